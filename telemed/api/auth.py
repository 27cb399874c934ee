"""POST /api/v1/auth/token (bearer tokens), logging a token out, ending every session.

Password attempts are limited per client address and per (address, username) with backoff
(telemed.security.LoginGuard), and per account with a short, capped backoff in the database
(telemed.services.users.authenticate). Every limit counts an attempt before the password is
checked, so parallel guesses cannot slip past it.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from telemed import keys
from telemed.api.common import Body, body, ok, sessions
from telemed.db.models import User
from telemed.domain.audit_reasons import because
from telemed.domain.identity import second_factor_step
from telemed.errors import ApiError
from telemed.identity.totp import check_second_factor, has_second_factor
from telemed.principal import ROLES, client_of, principal, public, requires
from telemed.services import audit, sign_in
from telemed.services.sessions import issue_access_token, revoke_session
from telemed.services.sign_in import too_many_attempts
from telemed.services.users import end_all_sessions_of

routes = web.RouteTableDef()


class TokenRequest(Body):
    username: str
    password: str
    # A TOTP or recovery code: required for staff under TELEMED_REQUIRE_2FA=staff.
    otp: str | None = Field(default=None, max_length=32)


async def login(request: web.Request, username: str, password: str) -> User:
    """`services.sign_in.login` with this request's guard and client address."""
    return await sign_in.login(sessions(request), request.app[keys.LOGIN_THROTTLE],
                               client_of(request), username, password)


@routes.post("/api/v1/auth/token")
@public
async def issue_token(request: web.Request) -> web.Response:
    data = await body(request, TokenRequest)
    user = await login(request, data.username, data.password)
    settings = request.app[keys.SETTINGS]
    factor = None
    async with sessions(request)() as session:
        step = second_factor_step(user.role, settings.require_2fa,
                                  enrolled=await has_second_factor(session, user))
    if step != "none":
        if not data.otp:
            raise ApiError(401, "second_factor_required",
                           "This account needs a second factor: send the code as otp.")
        guard, key = request.app[keys.LOGIN_THROTTLE], f"second-factor:{user.username}"
        wait = guard.reserve(client_of(request), key)  # codes are guessed no faster
        if wait > 0:
            raise too_many_attempts(wait)
        async with sessions(request)() as session:
            if not await check_second_factor(session, user.id, data.otp):
                raise ApiError(401, "wrong_second_factor",
                               "The code is wrong, expired or already used.")
        guard.succeeded(client_of(request), key)
        factor = "totp"
    async with sessions(request)() as session:
        token = await issue_access_token(
            session, user, secret=settings.secret_key, ttl_seconds=settings.token_ttl,
            method="password", second_factor=factor, address=client_of(request)[:64],
            user_agent=request.headers.get("User-Agent", "")[:255] or None)
    return ok({"access_token": token, "token_type": "bearer", "expires_in": settings.token_ttl})


@routes.post("/api/v1/auth/logout")
@requires(*ROLES)
async def logout(request: web.Request) -> web.Response:
    """End the session of this request (the bearer token, or the cookie's session)."""
    who = principal(request)
    if who.session_id is not None:
        async with sessions(request)() as session:
            await revoke_session(session, who.session_id, "logout")
    return ok({"status": "ok"})


@routes.post("/api/v1/auth/logout-everywhere")
@requires(*ROLES)
async def logout_everywhere(request: web.Request) -> web.Response:
    who = principal(request)
    async with sessions(request)() as session:
        audit.record(session, actor=who, action="update", resource="user",
                     resource_id=who.user_id, reason=because("logout_everywhere"))
        await end_all_sessions_of(session, who.user_id)
    return ok({"status": "ok"})
