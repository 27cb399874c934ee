"""Request pipeline: request ids, errors as JSON, security headers, authentication, CSRF."""

from __future__ import annotations

import json
import logging
import secrets
import time

from aiohttp import web
from aiohttp_session import get_session

from telemed import keys
from telemed.db.models import User
from telemed.errors import ApiError
from telemed.logs import REQUEST_ID as LOG_REQUEST_ID
from telemed.principal import CSRF_TOKEN, PRINCIPAL, REQUEST_ID, Handler, check_policy
from telemed.security import TokenError, TokenSigner, new_csrf_token, same_token
from telemed.services.users import to_principal

log = logging.getLogger("telemed.http")

SESSION_COOKIE = "telemed_session"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' blob:; connect-src 'self' ws: wss:; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'; object-src 'none'"
)


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


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give every request an id; turn errors into clean JSON (API) or pages (HTML)."""
    request[REQUEST_ID] = request.headers.get("X-Request-ID", "")[:64] or secrets.token_hex(8)
    context = LOG_REQUEST_ID.set(request[REQUEST_ID])  # every log line of this request
    try:
        return await _handle(request, handler)
    finally:
        LOG_REQUEST_ID.reset(context)


async def _handle(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    try:
        response = await handler(request)
    except ApiError as exc:
        if is_api(request):
            response = json_error(exc)
        else:
            from telemed.views.render import error_page

            response = await error_page(request, exc.status, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "http_error")
        message = exc.reason if exc.status != 413 else "Request body is too large."
        if is_api(request):
            response = json_error(ApiError(exc.status, code, message))
        else:
            from telemed.views.render import error_page

            response = await error_page(request, exc.status, message)
    except Exception:
        log.exception("unhandled error [request %s]", request[REQUEST_ID])
        error = ApiError(500, "internal_error", "Something went wrong on our side.")
        if is_api(request):
            response = json_error(error)
        else:
            from telemed.views.render import error_page

            response = await error_page(request, 500, error.message)
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
    headers.setdefault("Content-Security-Policy", CSP)
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
    return response


async def _principal_from_bearer(request: web.Request, token: str) -> None:
    app = request.app
    signer = TokenSigner(app[keys.SETTINGS].secret_key)
    try:
        claims = signer.verify("access", token)
    except TokenError:
        raise ApiError(401, "invalid_token", "The access token is invalid or has expired.",
                       headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None
    async with app[keys.SESSIONS]() as session:
        user = await session.get(User, str(claims.get("sub")))
    if user is None or not user.active or _revoked(user, int(claims["iat"])):
        raise ApiError(401, "invalid_token", "The access token is invalid or has expired.",
                       headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    request[PRINCIPAL] = to_principal(user, "bearer")


def _revoked(user: User, issued_at: float) -> bool:
    return user.sessions_valid_after is not None and issued_at < int(
        user.sessions_valid_after.timestamp()
    )


async def _principal_from_session(request: web.Request) -> None:
    if SESSION_COOKIE not in request.cookies:
        return  # no cookie: do not start a session for API callers
    session = await get_session(request)
    csrf = session.get("csrf")
    if isinstance(csrf, str):
        request[CSRF_TOKEN] = csrf
    user_id = session.get("uid")
    if user_id is None:
        return
    if not isinstance(user_id, str):
        session.invalidate()
        return
    app = request.app
    async with app[keys.SESSIONS]() as db:
        user = await db.get(User, user_id)
    issued = session.get("iat", 0)
    max_age = app[keys.SETTINGS].session_max_age
    if (
        user is None
        or not user.active
        or not isinstance(issued, (int, float))
        or _revoked(user, issued)
        or time.time() - issued > max_age
    ):
        session.invalidate()
        return
    request[PRINCIPAL] = to_principal(user, "session")


async def ensure_csrf_token(request: web.Request) -> str:
    """The session's CSRF token, created on first need (pages with forms)."""
    if request.get(CSRF_TOKEN):
        return request[CSRF_TOKEN]
    session = await get_session(request)
    token = new_csrf_token()
    session["csrf"] = token
    request[CSRF_TOKEN] = token
    return token


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
    return await handler(request)


UNLIMITED_PREFIXES = ("/healthz", "/readyz", "/metrics", "/static/")


def enforce_rate_limit(request: web.Request) -> None:
    """429 with Retry-After when one caller (user, device or address) sends too much."""
    if request.path.startswith(UNLIMITED_PREFIXES):
        return
    who = request.get(PRINCIPAL, None)
    if who is not None:
        key = f"user:{who.user_id}"
    elif request.headers.get("Authorization", "").lower().startswith("basic "):
        key = f"basic:{request.headers['Authorization'][6:40]}"
    else:
        key = f"addr:{request.remote}"
    wait = request.app[keys.RATE_LIMITER].take(key)
    if wait > 0:
        raise ApiError(429, "rate_limited", "Too many requests; slow down and retry shortly.",
                       headers={"Retry-After": str(int(wait) + 1)})


async def read_json(request: web.Request) -> object:
    """The request's JSON body; 415/400 with a clear message otherwise."""
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "Send the body as application/json.")
    try:
        return json.loads(await request.text())
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "The body is not valid JSON.") from None
