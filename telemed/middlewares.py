"""Request pipeline: request ids, errors as JSON, security headers, authentication, CSRF,
rate limits keyed by the real client (behind trusted proxies), device-credential guarding."""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware
from aiohttp_session import get_session

from telemed import keys
from telemed.errors import ApiError
from telemed.logs import REQUEST_ID as LOG_REQUEST_ID
from telemed.principal import (  # client_of, ensure_csrf_token: importable here as before
    CSRF_TOKEN,
    PRINCIPAL,
    REQUEST_ID,
    Handler,
    check_policy,
    client_of,
)
from telemed.security import (
    VISIT_JOIN_PURPOSE,
    Backoff,
    FailedCredentials,
    TokenError,
    TokenSigner,
    same_token,
)
from telemed.services.sessions import ACCESS_PURPOSE, live_session
from telemed.services.users import to_principal
from telemed.static_files import STATIC_FILES

log = logging.getLogger("telemed.http")

SESSION_COOKIE = "telemed_session"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' blob:; connect-src 'self' ws: wss:; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'; object-src 'none'"
)


def _csp(request: web.Request, response: web.StreamResponse) -> str:
    """The policy; a page's also allows its import map (by hash: no inline script otherwise)."""
    files = request.app.get(STATIC_FILES)
    if files is None or response.content_type != "text/html":
        return CSP
    return CSP.replace("script-src 'self'", f"script-src 'self' {files.import_map_source}")


def is_api(request: web.Request) -> bool:
    """True for machine routes that answer JSON errors."""
    path = request.path
    return path.startswith(("/api/", "/fhir/", "/healthz", "/readyz", "/metrics", "/ws/"))


def json_error(error: ApiError) -> web.Response:
    """The JSON response of an ApiError."""
    return web.json_response(error.body(), status=error.status, headers=error.headers)


_HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "validation_error", 429: "too_many_requests",
}


ErrorPage = Callable[[web.Request, ApiError], Awaitable[web.StreamResponse]]
"""Renders the HTML error page of an error (the views' renderer)."""


def create_error_middleware(error_page: ErrorPage) -> Middleware:
    """The first middleware: give every request an id; turn errors into clean JSON (API) or
    into `error_page` (HTML). The page renderer is an argument, so this core imports no page
    code."""

    @web.middleware
    async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        request[REQUEST_ID] = request.headers.get("X-Request-ID", "")[:64] or secrets.token_hex(8)
        context = LOG_REQUEST_ID.set(request[REQUEST_ID])  # every log line of this request
        try:
            return await _handle(request, handler, error_page)
        finally:
            LOG_REQUEST_ID.reset(context)

    return error_middleware


async def _handle(request: web.Request, handler: Handler,
                  error_page: ErrorPage) -> web.StreamResponse:
    started = time.perf_counter()
    try:
        response = await handler(request)
    except ApiError as exc:
        if is_api(request):
            response = json_error(exc)
        else:
            response = await error_page(request, exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "http_error")
        message = exc.reason if exc.status != 413 else "Request body is too large."
        error = ApiError(exc.status, code, message)
        if is_api(request):
            response = json_error(error)
        else:
            response = await error_page(request, error)
    except Exception:
        log.exception("unhandled error [request %s]", request[REQUEST_ID])
        error = ApiError(500, "internal_error", "Something went wrong on our side.")
        if is_api(request):
            response = json_error(error)
        else:
            response = await error_page(request, error)
    response.headers["X-Request-ID"] = request[REQUEST_ID]
    log.info(
        "%s %s %s %.1fms",
        request.method,
        request.path,
        response.status,
        (time.perf_counter() - started) * 1000,
        extra={"request_id": request[REQUEST_ID]},
    )
    return response


@web.middleware
async def security_headers_middleware(
    request: web.Request, handler: Handler
) -> web.StreamResponse:
    """Content-Security-Policy without inline script, and the usual hardening headers."""
    response = await handler(request)
    headers = response.headers
    headers.setdefault("Content-Security-Policy", _csp(request, response))
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault(
        "Permissions-Policy", "camera=(self), microphone=(self), display-capture=(self)"
    )
    if request.app[keys.SETTINGS].effective_public_url.startswith("https://"):
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if not request.path.startswith("/static/"):
        headers.setdefault("Cache-Control", "no-store")
    elif "v" in request.query:
        headers.setdefault("Cache-Control", "public, max-age=31536000, immutable")
    else:
        # a module imported by another (alert-board/, vitals/, visit/) has no version stamp:
        # the browser revalidates it, so a deploy never runs a new main.js on old modules
        headers.setdefault("Cache-Control", "no-cache")
    return response


def _invalid_token() -> ApiError:
    return ApiError(401, "invalid_token", "The access token is invalid or has expired.",
                    headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


async def _principal_from_bearer(request: web.Request, token: str) -> None:
    app = request.app
    signer = TokenSigner(app[keys.SETTINGS].secret_key)
    try:
        claims = signer.verify(ACCESS_PURPOSE, token)
    except TokenError:
        raise _invalid_token() from None
    session_id = claims.get("sid")
    if not isinstance(session_id, str):
        raise _invalid_token()  # issued before sessions were rows: no longer accepted
    async with app[keys.SESSIONS]() as db:
        found = await live_session(db, session_id)
    if found is None or found[1].id != claims.get("sub"):
        raise _invalid_token()
    row, user = found
    expires = min(float(claims["exp"]), row.expires_at.timestamp())
    request[PRINCIPAL] = to_principal(user, "bearer", session_id=row.id, expires_at=expires)


async def _principal_from_session(request: web.Request) -> None:
    if SESSION_COOKIE not in request.cookies:
        return  # no cookie: do not start a session for API callers
    session = await get_session(request)
    csrf = session.get("csrf")
    if isinstance(csrf, str):
        request[CSRF_TOKEN] = csrf
    session_id = session.get("sid")
    if session_id is None:
        if "uid" in session:  # a cookie from before server-side sessions
            session.invalidate()
        return
    if not isinstance(session_id, str):
        session.invalidate()
        return
    async with request.app[keys.SESSIONS]() as db:
        found = await live_session(db, session_id)
    if found is None:
        session.invalidate()
        return
    row, user = found
    request[PRINCIPAL] = to_principal(user, "session", session_id=row.id,
                                      expires_at=row.expires_at.timestamp())


async def _check_csrf(request: web.Request) -> None:
    sent = request.headers.get("X-CSRF-Token")
    if sent is None and request.content_type in FORM_TYPES:
        form = await request.post()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    if not same_token(sent, request.get(CSRF_TOKEN, None)):
        raise ApiError(403, "csrf_failed",
                       "The form has expired or did not come from this site. Reload and retry.")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Resolve the caller, enforce the route's role policy and CSRF for cookie requests."""
    request[PRINCIPAL] = None
    authorization = request.headers.get("Authorization", "")
    if authorization.lower().startswith("bearer "):
        await _principal_from_bearer(request, authorization[7:].strip())
    elif authorization.lower().startswith("basic "):
        pass  # device credentials: checked by the handler itself, no cookie, no CSRF
    else:
        await _principal_from_session(request)
        # Cookie-authenticated requests and every form post need the CSRF token; a JSON
        # request without our cookie carries no ambient authority.
        if request.method not in SAFE_METHODS and (
            SESSION_COOKIE in request.cookies or request.content_type in FORM_TYPES
        ):
            await _check_csrf(request)
    enforce_rate_limit(request)
    route = request.match_info.route
    if route.resource is not None and route.resource.canonical.startswith("/static"):
        return await handler(request)
    if request.match_info.http_exception is not None:
        return await handler(request)
    check_policy(route.handler, request[PRINCIPAL])
    if authorization.lower().startswith("basic "):
        # Guarded here, so that a flood of wrong device credentials costs no password hashing.
        return await _device_auth(request, handler, authorization)
    return await handler(request)


UNLIMITED_PREFIXES = ("/healthz", "/readyz", "/metrics", "/static/")


def _join_token_user(request: web.Request) -> str | None:
    """The user a signalling WebSocket's join token names (signature checked), or None."""
    if not request.path.startswith("/ws/visits/"):
        return None
    try:
        claims = TokenSigner(request.app[keys.SETTINGS].secret_key).verify(
            VISIT_JOIN_PURPOSE, request.query.get("token", ""))
    except TokenError:
        return None
    user_id = claims.get("sub")
    return user_id if isinstance(user_id, str) else None


def rate_key(request: web.Request) -> str:
    """Whose budget a request spends: the user's, the device's, or the client address's."""
    who = request.get(PRINCIPAL, None)
    if who is not None:
        return f"user:{who.user_id}"
    if request.headers.get("Authorization", "").lower().startswith("basic "):
        return f"basic:{request.headers['Authorization'][6:40]}"
    joining = _join_token_user(request)
    if joining is not None:
        return f"user:{joining}"
    return f"addr:{client_of(request)}"


def enforce_rate_limit(request: web.Request) -> None:
    """429 with Retry-After when one caller (user, device or address) sends too much."""
    if request.path.startswith(UNLIMITED_PREFIXES):
        return
    wait = request.app[keys.RATE_LIMITER].take(rate_key(request))
    if wait > 0:
        raise ApiError(429, "rate_limited", "Too many requests; slow down and retry shortly.",
                       headers={"Retry-After": str(int(wait) + 1)})


class DeviceAuthGuard:
    """Wrong device credentials per client address (backoff before any hashing), and the
    credentials that just failed (refused again without hashing for a minute)."""

    def __init__(self) -> None:
        self.per_address = Backoff(free=10, cap=60.0, forget_after=300.0)
        self.failed = FailedCredentials(ttl=60.0)


DEVICE_AUTH: web.AppKey[DeviceAuthGuard] = web.AppKey("device_auth_guard")
_DEVICE_CHALLENGE = {"WWW-Authenticate": 'Basic realm="telemed-devices", charset="UTF-8"'}


async def _device_auth(request: web.Request, handler: Handler,
                       authorization: str) -> web.StreamResponse:
    guard = request.app[DEVICE_AUTH]
    credential = f"{request.path}\n{authorization}"  # a device's id is in the path too
    if credential in guard.failed:
        raise ApiError(401, "unauthorized", "Unknown device or wrong password.",
                       headers=_DEVICE_CHALLENGE)
    address = client_of(request)
    wait = guard.per_address.reserve(address)
    if wait > 0:
        raise ApiError(429, "too_many_attempts",
                       f"Too many failed attempts. Try again in {int(wait) + 1} seconds.",
                       headers={"Retry-After": str(int(wait) + 1)})
    failed = False
    try:
        response = await handler(request)
    except ApiError as exc:
        failed = exc.status == 401
        raise
    finally:
        if failed:
            guard.failed.add(credential)
        else:
            guard.per_address.release(address)
    return response


async def read_json(request: web.Request) -> object:
    """The request's JSON body; 415/400 with a clear message otherwise."""
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "Send the body as application/json.")
    try:
        return json.loads(await request.text())
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "The body is not valid JSON.") from None
