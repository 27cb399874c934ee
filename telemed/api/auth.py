"""POST /api/v1/auth/token (bearer tokens) and ending every session."""

from __future__ import annotations

from aiohttp import web

from telemed import keys
from telemed.api.common import Body, body, ok, sessions
from telemed.db.models import User
from telemed.errors import ApiError
from telemed.principal import ROLES, principal, public, requires
from telemed.security import TokenSigner
from telemed.services import audit
from telemed.services.users import LoginError, authenticate, end_all_sessions

routes = web.RouteTableDef()


class TokenRequest(Body):
    username: str
    password: str


def throttle_key(request: web.Request, username: str) -> str:
    """Failures are counted per client address and per username."""
    return f"{request.remote}|{username.strip().lower()}"


def login_refused(exc: LoginError) -> ApiError:
    """The error a refused login answers with."""
    if exc.locked_minutes:
        return ApiError(
            429, "account_locked",
            f"Too many failed attempts: the account is locked for {exc.locked_minutes} minutes.",
            headers={"Retry-After": str(exc.locked_minutes * 60)},
        )
    return ApiError(401, "invalid_credentials", "Wrong username or password.")


async def login(request: web.Request, username: str, password: str) -> User:
    """Check credentials with per-client throttling; raise the right ApiError when refused."""
    throttle = request.app[keys.LOGIN_THROTTLE]
    key = throttle_key(request, username)
    wait = throttle.blocked_for(key)
    if wait > 0:
        raise ApiError(429, "too_many_attempts",
                       f"Too many attempts. Try again in {int(wait) + 1} seconds.",
                       headers={"Retry-After": str(int(wait) + 1)})
    async with sessions(request)() as session:
        try:
            user = await authenticate(session, username, password)
        except LoginError as exc:
            throttle.hit(key)
            raise login_refused(exc) from None
    throttle.reset(key)
    return user


@routes.post("/api/v1/auth/token")
@public
async def issue_token(request: web.Request) -> web.Response:
    data = await body(request, TokenRequest)
    user = await login(request, data.username, data.password)
    settings = request.app[keys.SETTINGS]
    token = TokenSigner(settings.secret_key).sign("access", {"sub": user.id}, settings.token_ttl)
    return ok({"access_token": token, "token_type": "bearer", "expires_in": settings.token_ttl})


@routes.post("/api/v1/auth/logout-everywhere")
@requires(*ROLES)
async def logout_everywhere(request: web.Request) -> web.Response:
    who = principal(request)
    async with sessions(request)() as session:
        user = await session.get(User, who.user_id)
        assert user is not None
        audit.record(session, actor=who, action="update", resource="user",
                     resource_id=who.user_id, reason="log out everywhere")
        await end_all_sessions(session, user)
    return ok({"status": "ok"})
