"""The readiness registry: the dependencies /readyz reports on.

Low on purpose (it imports nothing of ours): the bus, the broker and the ingest register
their checks here while they start, and `telemed.api.health` only reads them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

ReadinessCheck = Callable[[web.Application], Awaitable[bool]]
READINESS: web.AppKey[dict[str, ReadinessCheck]] = web.AppKey("readiness")


def add_readiness_check(app: web.Application, name: str, check: ReadinessCheck) -> None:
    """Register a dependency that /readyz reports on (e.g. the broker)."""
    app[READINESS][name] = check
