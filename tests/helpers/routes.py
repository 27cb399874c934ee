"""The application's route table, as tests walk it."""

from __future__ import annotations

from typing import Any

from aiohttp import web


def all_routes(app: web.Application) -> list[tuple[str, str, Any]]:
    found = []
    for resource in app.router.resources():
        if resource.canonical.startswith("/static"):
            continue
        for route in resource:
            if route.method in ("HEAD", "OPTIONS"):
                continue
            found.append((route.method, resource.canonical, route.handler))
    return found
