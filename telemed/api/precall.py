"""The pre-call test: `POST /api/v1/precall/offer {sdp, type}` answers from the echo peer."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from telemed import keys
from telemed.api.common import Body, body, ok
from telemed.errors import ApiError
from telemed.precall.echo import ECHO, MAX_SDP, BadOffer, EchoBusy
from telemed.principal import ROLES, principal, requires
from telemed.services.turn import ice_servers, pseudonym

routes = web.RouteTableDef()


class Offer(Body):
    sdp: str = Field(min_length=1, max_length=MAX_SDP)
    type: str


@routes.post("/api/v1/precall/offer")
@requires(*ROLES)
async def precall_offer(request: web.Request) -> web.Response:
    data = await body(request, Offer)
    who = principal(request)
    settings = request.app[keys.SETTINGS]
    servers = ice_servers(settings, pseudonym(settings.secret_key, "precall", who.user_id))
    try:
        answer = await request.app[ECHO].answer(who.user_id, data.sdp, data.type,
                                                        servers)
    except EchoBusy:
        raise ApiError(429, "precall_busy", "The test line is busy; try again in a minute.",
                       headers={"Retry-After": "30"}) from None
    except BadOffer:
        raise ApiError(422, "bad_offer", "The offer could not be answered.") from None
    return ok({"sdp": answer.sdp, "type": answer.type})
