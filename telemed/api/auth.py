"""POST /api/v1/auth/token (bearer tokens), logging a token out, ending every session.

Password attempts are limited per client address and per (address, username) with backoff
(telemed.security.LoginGuard), and per account with a short, capped backoff in the database
(telemed.services.users.authenticate). Every limit counts an attempt before the password is
checked, so parallel guesses cannot slip past it.
"""

from __future__ import annotations

from aiohttp import web

from telemed import keys
from telemed.api.common import Body, body, ok, sessions
from telemed.db.models import User
from telemed.live_channels import credentials_revoked
from telemed.principal import ROLES, client_of, principal, public, requires
from telemed.services import audit, sign_in
from telemed.services.sessions import issue_access_token, revoke_session
from telemed.services.users import end_all_sessions_of

routes = web.RouteTableDef()


class TokenRequest(Body):
    username: str
    password: str


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
    async with sessions(request)() as session:
        token = await issue_access_token(session, user, secret=settings.secret_key,
                                         ttl_seconds=settings.token_ttl)
    return ok({"access_token": token, "token_type": "bearer", "expires_in": settings.token_ttl})


@routes.post("/api/v1/auth/logout")
@requires(*ROLES)
async def logout(request: web.Request) -> web.Response:
    """End the session of this request (the bearer token, or the cookie's session)."""
    who = principal(request)
    if who.session_id is not None:
        async with sessions(request)() as session:
            await revoke_session(session, who.session_id, "logout")
        await credentials_revoked(request.app[keys.BUS], who.user_id, "logout", who.session_id)
    return ok({"status": "ok"})


@routes.post("/api/v1/auth/logout-everywhere")
@requires(*ROLES)
async def logout_everywhere(request: web.Request) -> web.Response:
    who = principal(request)
    async with sessions(request)() as session:
        audit.record(session, actor=who, action="update", resource="user",
                     resource_id=who.user_id, reason="log out everywhere")
        await end_all_sessions_of(session, who.user_id)
    await credentials_revoked(request.app[keys.BUS], who.user_id, "logout_everywhere")
    return ok({"status": "ok"})
