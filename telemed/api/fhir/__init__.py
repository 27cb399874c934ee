"""FHIR R4 (read-only JSON, ``application/fhir+json``) under /fhir/R4.

``setup_fhir(app)`` adds the routes and the middleware that renders every error under
/fhir/ as an OperationOutcome (including the 401/403 of the role policy, raised before any
handler runs). See docs/fhir.md.
"""

from __future__ import annotations

from aiohttp import web

from telemed.api.fhir import scheduling
from telemed.api.fhir.errors import fhir_error_middleware
from telemed.api.fhir.handlers import routes
from telemed.middlewares import security_headers_middleware

__all__ = ["routes", "setup_fhir"]


def setup_fhir(app: web.Application) -> None:
    """Serve /fhir/R4: routes, and OperationOutcome errors inside the global error handler."""
    app.router.add_routes(routes)
    app.router.add_routes(scheduling.routes)
    middlewares = list(app.middlewares)
    # After the security headers (so error responses get them too), before authentication.
    position = (middlewares.index(security_headers_middleware) + 1
                if security_headers_middleware in middlewares else 0)
    app.middlewares.insert(position, fhir_error_middleware)
