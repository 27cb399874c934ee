"""A guest's call page (no account: a one-time link, then a cookie scoped to the guest's page)
and the guest's join details."""

from __future__ import annotations

from aiohttp import web

from telemed import keys
from telemed.principal import public
from telemed.services import visit_guests as guests
from telemed.services import visits as service
from telemed.services.turn import join_details
from telemed.views.render import language_of, render
from telemed.views.visit_labels import VISIT_ID
from telemed.views.visits.visit_view import call_context, names_of, visit_view, why_not_joinable

routes = web.RouteTableDef()


def _guest_path(visit_id: str) -> str:
    return f"/visits/{visit_id}/guest"


@routes.get(f"/visits/{VISIT_ID}/guest", name="visit_guest")
@public  # the one-time link or the guest cookie is checked here
async def guest_page(request: web.Request) -> web.StreamResponse:
    """A guest's check-in: camera and microphone, the waiting room, then the call."""
    await language_of(request)
    visit_id = request.match_info["visit_id"]
    settings = request.app[keys.SETTINGS]
    path = _guest_path(visit_id)
    cookie = request.cookies.get(guests.COOKIE_NAME)
    token = request.query.get("t")
    async with request.app[keys.SESSIONS]() as session:
        if token is not None:
            _guest, value = await guests.open_link(session, settings.secret_key, visit_id,
                                                   token, cookie=cookie)
            # Drop the token from the address bar (and from any Referer).
            moved = web.Response(status=303, headers={"Location": path,
                                                      "Cache-Control": "no-store"})
            moved.set_cookie(guests.COOKIE_NAME, value, path=path, httponly=True,
                             samesite="Lax",
                             secure=settings.effective_public_url.startswith("https://"))
            return moved
        guest = await guests.guest_of_cookie(session, settings.secret_key, visit_id, cookie)
        record = await service.load_visit(session, visit_id)
    problem = why_not_joinable(request, record)
    names = await names_of(request, list(record.participant_ids))
    response = await render(request, "visit_checkin.html", call_context(
        request, visit_view(request, record, names), problem, guest_name=guest.name,
        join_url=f"{path}/join"))
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@routes.get(f"/visits/{VISIT_ID}/guest/join", name="visit_guest_join")
@public  # the guest cookie is checked here
async def guest_join(request: web.Request) -> web.Response:
    """The guest's join details, like `GET /api/v1/visits/{id}/join` for signed-in users."""
    visit_id = request.match_info["visit_id"]
    settings = request.app[keys.SETTINGS]
    async with request.app[keys.SESSIONS]() as session:
        guest = await guests.guest_of_cookie(session, settings.secret_key, visit_id,
                                             request.cookies.get(guests.COOKIE_NAME))
        record = await service.load_visit(session, visit_id)
    service.check_joinable(record.visit)
    details = join_details(settings, visit_id, guests.guest_user_id(guest.id), "guest")
    return web.json_response(details, headers={"Cache-Control": "no-store"})
