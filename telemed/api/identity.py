"""/api/v1/users/me/sessions: a person's open sessions (browsers, apps, single sign-on),
each revocable on its own."""

from __future__ import annotations

from aiohttp import web

from telemed import keys
from telemed.api.common import ok, sessions
from telemed.errors import not_found
from telemed.identity.sessions import my_sessions, revoke_my_session
from telemed.live_channels import credentials_revoked
from telemed.principal import ROLES, principal, requires

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
    """End one of the caller's sessions (204); 404 for anything else, another person's
    session included, and nothing changes."""
    who = principal(request)
    async with sessions(request)() as db:
        ended = await revoke_my_session(db, who.user_id, request.match_info["session"])
    if ended is None:
        raise not_found("Session")
    await credentials_revoked(request.app[keys.BUS], who.user_id, "revoked_by_user", ended)
    return web.Response(status=204)
