"""HTML pages (aiohttp-jinja2), one module per page type."""

from __future__ import annotations

from aiohttp import web

from telemed.views import (
    alerts,
    auth,
    careplans,
    home,
    notifications,
    oncall,
    patients,
    privacy,
    users,
)
from telemed.views.render import setup_templates
from telemed.webroot import web_root


def setup_views(app: web.Application) -> None:
    """Templates, static files and the page routes."""
    setup_templates(app)
    app.router.add_static("/static/", web_root() / "static", name="static", append_version=True)
    for module in (home, auth, patients, careplans, users, alerts, privacy, notifications, oncall):
        app.router.add_routes(module.routes)
