"""create_app(settings): wiring only, used by production and tests alike."""

from __future__ import annotations

import hashlib
import logging

from aiohttp import web
from aiohttp_session import setup as setup_session
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from telemed import keys
from telemed.api import (
    alerts,
    auth,
    booking,
    careplans,
    consents,
    delegates,
    devices,
    documents,
    identity,
    imaging,
    notifications,
    observations,
    oncall,
    openapi,
    patients,
    population,
    precall,
    questionnaires,
    teleconsults,
    users,
    visits,
)
from telemed.api.alert_stream import setup_alert_stream
from telemed.api.fhir import setup_fhir
from telemed.api.health import setup_health
from telemed.api.input_guard import input_guard_middleware
from telemed.broker import setup_broker
from telemed.bus import setup_bus
from telemed.db.engine import database_ctx
from telemed.documents.setup import setup_documents
from telemed.identity.oidc import setup_oidc
from telemed.imaging.setup import setup_imaging
from telemed.ingest import http as readings
from telemed.ingest.setup import setup_ingest
from telemed.live_channels import setup_live_channels
from telemed.metrics import Metrics
from telemed.middlewares import (
    DEVICE_AUTH,
    SESSION_COOKIE,
    DeviceAuthGuard,
    auth_middleware,
    create_error_middleware,
    security_headers_middleware,
)
from telemed.notify.setup import setup_notify
from telemed.precall.setup import setup_precall
from telemed.principal import policy_of
from telemed.security import LoginGuard, RateLimiter
from telemed.settings import Role, Settings
from telemed.signalling.setup import setup_signalling
from telemed.views import setup_views
from telemed.views import teleconsults as teleconsult_pages
from telemed.views.render import error_page
from telemed.views.visits import setup_visit_pages

log = logging.getLogger("telemed")


def _session_storage(settings: Settings) -> EncryptedCookieStorage:
    key = hashlib.sha256(f"session:{settings.secret_key}".encode()).digest()
    return EncryptedCookieStorage(
        key,
        cookie_name=SESSION_COOKIE,
        max_age=settings.session_max_age,
        httponly=True,
        samesite="Lax",
        secure=settings.effective_public_url.startswith("https://"),
    )


def check_route_policies(app: web.Application) -> None:
    """Refuse to start when a route has no declared access policy."""
    for resource in app.router.resources():
        if resource.canonical.startswith("/static"):
            continue
        for route in resource:
            if route.method != "HEAD" and policy_of(route.handler) is None:
                raise RuntimeError(f"route {route.method} {resource.canonical} has no policy")


def create_app(settings: Settings, role: Role = "serve") -> web.Application:
    """The whole web application for `settings` (`role`: serve, web or ingest)."""
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[keys.SETTINGS] = settings
    app[keys.ROLE] = role
    app[keys.METRICS] = Metrics()
    app[keys.LOGIN_THROTTLE] = LoginGuard()
    app[DEVICE_AUTH] = DeviceAuthGuard()
    app[keys.RATE_LIMITER] = RateLimiter(settings.api_rate_per_minute)
    app.middlewares.append(create_error_middleware(error_page))
    app.middlewares.append(security_headers_middleware)
    setup_session(app, _session_storage(settings))
    app.middlewares.append(input_guard_middleware)  # after the session: error pages need it
    app.middlewares.append(auth_middleware)
    app.cleanup_ctx.append(database_ctx)
    setup_bus(app)
    setup_health(app)
    setup_broker(app)
    if role != "ingest":  # an ingest worker serves only /healthz, /readyz and /metrics
        for module in (auth, users, patients, careplans, consents, delegates, devices,
                       alerts, observations, readings, openapi, visits, notifications, oncall,
                       precall, population, questionnaires, teleconsults, imaging, identity,
                       booking, documents):
            app.router.add_routes(module.routes)
        setup_live_channels(app)
        setup_documents(app)
        setup_imaging(app)
        setup_oidc(app)
        setup_notify(app)
        setup_alert_stream(app)
        setup_fhir(app, after=security_headers_middleware)
        setup_signalling(app)
        setup_precall(app)
        setup_visit_pages(app)
        app.router.add_routes(teleconsult_pages.routes)
        setup_views(app)
    setup_ingest(app)
    check_route_policies(app)
    return app
