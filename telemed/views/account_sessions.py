"""The signed-in person's sessions: each browser or app with its device, address and last
use; any of them can be ended here (the current one is ended by logging out)."""

from __future__ import annotations

from aiohttp import web

from telemed import keys
from telemed.identity.sessions import my_sessions, revoke_my_session
from telemed.principal import ROLES, principal, requires
from telemed.views.forms import N_
from telemed.views.render import flash, language_of, render, see_other

routes = web.RouteTableDef()


@routes.get("/account/sessions", name="account_sessions")
@requires(*ROLES)
async def sessions_page(request: web.Request) -> web.Response:
    await language_of(request)
    who = principal(request)
    async with request.app[keys.SESSIONS]() as db:
        found = await my_sessions(db, who.user_id, who.session_id)
    return await render(request, "account_sessions.html", {"sessions": found})


@routes.post("/account/sessions/{session}/revoke")
@requires(*ROLES)
async def sessions_revoke(request: web.Request) -> web.Response:
    who = principal(request)
    async with request.app[keys.SESSIONS]() as db:
        ended = await revoke_my_session(db, who.user_id, request.match_info["session"])
    if ended is None:
        raise web.HTTPNotFound(text="There is no such session.")
    if ended == who.session_id:
        raise see_other("/login")
    await flash(request, N_("The session was ended."))
    raise see_other("/account/sessions")
