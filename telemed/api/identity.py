"""/api/v1/users/me/sessions: a person's open sessions (browsers, apps, single sign-on),
each revocable on its own; an administrator's reset of a lost second factor."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from telemed import keys
from telemed.api.common import Body, body, call, ok, sessions
from telemed.errors import not_found
from telemed.identity.activation import activate
from telemed.identity.sessions import my_sessions, revoke_my_session
from telemed.principal import ROLES, principal, public, requires
from telemed.services.user_admin import REASON_MAX, REASON_MIN, reset_factor_of

routes = web.RouteTableDef()


@routes.get("/api/v1/users/me/sessions")
@requires(*ROLES)
async def sessions_list(request: web.Request) -> web.Response:
    who = principal(request)
    async with sessions(request)() as db:
        found = await my_sessions(db, who.user_id, who.session_id)
    return ok({"items": [s.dump() for s in found]})


@routes.delete("/api/v1/users/me/sessions/{session}")
@requires(*ROLES)
async def sessions_revoke(request: web.Request) -> web.Response:
    """End one of the caller's sessions; 404 for anything else, another person's session
    included, and nothing changes."""
    who = principal(request)
    async with sessions(request)() as db:
        ended = await revoke_my_session(db, who.user_id, request.match_info["session"])
    if ended is None:
        raise not_found("Session")
    return ok({"status": "revoked"})


class FactorReset(Body):
    reason: str = Field(min_length=REASON_MIN, max_length=REASON_MAX)


@routes.post("/api/v1/users/{user_id}/second-factor/reset")
@requires("admin")
async def second_factor_reset(request: web.Request) -> web.Response:
    """An administrator removes a user's lost second factor, with the reason; the user is
    told (notification centre, and email when they have an address) and sets it up again
    at the next login."""
    data = await body(request, FactorReset)
    await call(request, reset_factor_of, request.match_info["user_id"], data.reason)
    return ok({"status": "reset"})


class Activation(Body):
    token: str = Field(max_length=1024)
    password: str = Field(max_length=1024)


@routes.post("/api/v1/auth/activate")
@public
async def account_activate(request: web.Request) -> web.Response:
    """The owner of a new portal account sets its first password with the activation link's
    token: 400 for a used, expired or forged token, 422 for a refused password."""
    data = await body(request, Activation)
    async with sessions(request)() as db:
        user = await activate(db, request.app[keys.SETTINGS].secret_key, data.token,
                              data.password)
    return ok({"status": "activated", "username": user.username})
