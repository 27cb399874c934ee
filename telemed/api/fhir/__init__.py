"""FHIR R4 (read-only JSON, ``application/fhir+json``) under /fhir/R4.

``setup_fhir(app)`` adds the routes and the middleware that renders every error under
/fhir/ as an OperationOutcome (including the 401/403 of the role policy, raised before any
handler runs). See docs/fhir.md.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Middleware

from telemed.api.fhir import scheduling
from telemed.api.fhir.errors import fhir_error_middleware
from telemed.api.fhir.handlers import routes

__all__ = ["routes", "setup_fhir"]


def setup_fhir(app: web.Application, *, after: Middleware | None = None) -> None:
    """Serve /fhir/R4: routes, and OperationOutcome errors inside the global error handler,
    placed just after the middleware `after` (the app passes its security headers, so error
    responses get them too; authentication comes later)."""
    app.router.add_routes(routes)
    app.router.add_routes(scheduling.routes)
    middlewares = list(app.middlewares)
    position = middlewares.index(after) + 1 if after in middlewares else 0
    app.middlewares.insert(position, fhir_error_middleware)
