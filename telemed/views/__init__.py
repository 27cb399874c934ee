"""HTML pages (aiohttp-jinja2): one module per page type, a package of small modules for a page
type of several parts (alerts/, visits/, vitals/)."""

from __future__ import annotations

from aiohttp import web

from telemed.static_files import setup_static
from telemed.views import (
    account,
    account_sessions,
    activation,
    alerts,
    auth,
    careplans,
    device_admin,
    devices,
    documents,
    emergency_reviews,
    home,
    notifications,
    oncall,
    patients,
    population,
    privacy,
    questionnaires,
    readings,
    second_factor,
    security_keys,
    sso,
    users,
)
from telemed.views.render import setup_templates
from telemed.webroot import web_root


def setup_views(app: web.Application) -> None:
    """Templates, static files and the page routes."""
    setup_templates(app)
    setup_static(app, web_root() / "static")
    for module in (home, auth, account, patients, careplans, device_admin, devices, users,
                   alerts, privacy, emergency_reviews, notifications, oncall, population,
                   sso, account_sessions, second_factor, activation, security_keys, documents,
                   readings, questionnaires):
        app.router.add_routes(module.routes)
