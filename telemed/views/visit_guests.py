"""The guests page of a visit (`/visits/{id}/guests`): invite a person without an account
(a relative, an interpreter), copy the one-time link, see every invitation and where it
stands, revoke one.

Server-rendered forms (CSRF token, Post/Redirect/Get). Every action goes through
`telemed.services.visit_guests`, the same authorization and audit path as
`/api/v1/visits/{id}/guests`. A new link is kept in the session only until this page is next
shown: like the API, the page shows it once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from aiohttp_session import get_session

from telemed import keys
from telemed.db.models import VisitGuest
from telemed.db.types import utcnow
from telemed.errors import ApiError
from telemed.live_channels import VISIT_ROOMS
from telemed.principal import CLINICIANS, REQUEST_ID, ensure_csrf_token, principal, requires
from telemed.services import visit_guests as guests
from telemed.services import visits as service
from telemed.services.users import display_names
from telemed.views.forms import FormErrors, api_errors, read_form, simple_field
from telemed.views.render import N_, flash, language_of, render, see_other, t, t_error
from telemed.views.visit_labels import KIND_LABELS, VISIT_ID

routes = web.RouteTableDef()

GUEST_ID = "{guest_id:[A-Za-z0-9_-]{1,64}}"
NEW_LINK = "visit_guest_link"  # session key: the link just created, until it is shown
FIELDS = {"name": N_("Guest's name"), "email": N_("Guest's email address (optional)")}
STATE_LABELS: dict[str, str] = {
    "pending": N_("Not used yet"),
    "used": N_("Link used"),
    "revoked": N_("Revoked"),
    "expired": N_("Expired"),
}


def guests_path(visit_id: str) -> str:
    return f"/visits/{visit_id}/guests"


async def _take_new_link(request: web.Request, visit_id: str) -> dict[str, Any] | None:
    """The link created just before (once; only on its own visit's page)."""
    stored = (await get_session(request)).pop(NEW_LINK, None)
    if not isinstance(stored, dict) or stored.get("visit") != visit_id:
        return None
    try:
        expires = datetime.fromisoformat(str(stored["expires"]))
    except (KeyError, ValueError):
        return None
    return {"name": str(stored.get("name", "")), "link": str(stored.get("link", "")),
            "expires": expires}


def _guest_row(request: web.Request, guest: VisitGuest, record: service.VisitRecord,
               names: dict[str, str], now: datetime) -> dict[str, Any]:
    state = guests.guest_state(guest, record.visit, now)
    return {
        "id": guest.id,
        "name": guest.name,
        "state": state,
        "state_label": t(request, STATE_LABELS[state]),
        "created_at": guest.created_at,
        "used_at": guest.used_at,
        "revoked_at": guest.revoked_at,
        "invited_by": names.get(guest.invited_by, ""),
        "can_revoke": state in ("pending", "used"),
    }


async def _page(request: web.Request, *, name: str = "", errors: FormErrors | None = None,
                status: int = 200, show_new_link: bool = False,
                email: str = "") -> web.Response:
    """The guests page; after a refused form, with its errors and what was typed."""
    await ensure_csrf_token(request)
    errors = errors if errors is not None else FormErrors()
    who = principal(request)
    visit_id = request.match_info["visit_id"]
    async with request.app[keys.SESSIONS]() as session:
        found = await guests.list_guests(session, who, visit_id, request[REQUEST_ID])
        record = await service.load_visit(session, visit_id)
        active = await guests.active_guests(session, visit_id)
        patient = await service.patient_of(session, record)
        names = await display_names(session, sorted({g.invited_by for g in found}))
    now = utcnow()
    closed = None
    try:
        guests.check_invitable(record.visit, now)
    except ApiError as exc:
        closed = t_error(request, exc)
    labels = {key: t(request, label) for key, label in FIELDS.items()}
    response = await render(request, "visit_guests.html", {
        "visit": {"id": visit_id, "kind": t(request, KIND_LABELS.get(record.visit.kind,
                                                                      record.visit.kind)),
                  "start": record.visit.scheduled_start},
        "patient": patient,
        "is_participant": who.user_id in record.participant_ids,
        "guests": [_guest_row(request, g, record, names, now) for g in found],
        "expires": service.join_window(record.visit)[1],
        "closed": closed,
        "full": len(active) >= guests.guest_limit(record),
        "new_link": await _take_new_link(request, visit_id) if show_new_link else None,
        "name": name,
        "email": email,
        "errors": errors,
        "summary": errors.summary(lambda key: labels.get(key, key)),
        "max_name": guests.MAX_NAME,
    }, status=status)
    response.headers["Cache-Control"] = "no-store"  # the one-time link must not be cached
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@routes.get(f"/visits/{VISIT_ID}/guests", name="visit_guests")
@requires(*CLINICIANS)
async def guests_page(request: web.Request) -> web.Response:
    """The visit's guests, the invitation form and, right after an invitation, its link."""
    await language_of(request)
    return await _page(request, show_new_link=True)


@routes.post(f"/visits/{VISIT_ID}/guests")
@requires(*CLINICIANS)
async def guests_invite(request: web.Request) -> web.Response:
    await language_of(request)
    form = await read_form(request)
    name = form.get("name", "")
    visit_id = request.match_info["visit_id"]
    settings = request.app[keys.SETTINGS]
    try:
        async with request.app[keys.SESSIONS]() as session:
            invitation = await guests.invite_guest(session, principal(request), visit_id, name,
                                                   secret=settings.secret_key,
                                                   request_id=request[REQUEST_ID],
                                                   email=form.get("email") or None)
    except ApiError as exc:
        if exc.status not in (409, 422):
            raise
        errors = api_errors(request, exc, simple_field(FIELDS))
        return await _page(request, name=name, errors=errors, status=exc.status,
                           email=form.get("email", ""))
    (await get_session(request))[NEW_LINK] = {
        "visit": visit_id,
        "name": invitation.guest.name,
        "link": guests.invitation_link(settings.effective_public_url, visit_id,
                                       invitation.token),
        "expires": invitation.expires_at.isoformat(),
    }
    await flash(request, "Invitation created for {name}. Send the link below.",
                name=invitation.guest.name)
    raise see_other(guests_path(visit_id))


@routes.post(f"/visits/{VISIT_ID}/guests/{GUEST_ID}/revoke")
@requires(*CLINICIANS)
async def guests_revoke(request: web.Request) -> web.Response:
    """Revoke an invitation and disconnect the guest, as `DELETE .../guests/{id}` does."""
    await language_of(request)
    visit_id = request.match_info["visit_id"]
    try:
        async with request.app[keys.SESSIONS]() as session:
            guest = await guests.revoke_guest(session, principal(request), visit_id,
                                              request.match_info["guest_id"],
                                              request[REQUEST_ID], strict=True)
    except ApiError as exc:
        if exc.code not in ("not_found", "already_revoked"):
            raise
        errors = FormErrors()
        errors.add(None, t_error(request, exc))
        return await _page(request, errors=errors, status=exc.status)
    await request.app[VISIT_ROOMS].remove_user(visit_id, guests.guest_user_id(guest.id))
    await flash(request, "The invitation of {name} was revoked.", name=guest.name)
    raise see_other(guests_path(visit_id))
