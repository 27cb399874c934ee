"""Visits (docs/visits.md): scheduling, reading, cancelling, joining, the report, .ics export."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import Field

from telemed import keys
from telemed.api.common import (
    Body,
    body,
    call,
    listing,
    ok,
    read_json,
    request_id,
    sessions,
    validate,
)
from telemed.api.shapes import iso
from telemed.db.models import VisitGuest
from telemed.errors import ApiError
from telemed.i18n import gettext, negotiate
from telemed.live_channels import VISIT_ROOMS
from telemed.principal import CLINICIANS, Role, principal, requires
from telemed.services import booking
from telemed.services import visit_guests as guests
from telemed.services import visits as service
from telemed.services.pagination import encode_cursor, parse_page
from telemed.services.turn import join_details
from telemed.services.visit_calendar import visit_ics

routes = web.RouteTableDef()

VISIT_ID = "{visit_id}"
VISIT_ROLES: tuple[Role, ...] = ("doctor", "nurse", "patient")  # administrators see no visits
KIND_LABELS = {"televisit": "Televisit", "teleconsult": "Teleconsult",
               "teleassistance": "Teleassistance"}


class VisitCreate(Body):
    kind: str
    patient_id: str = Field(min_length=1, max_length=64)
    participant_ids: list[str] = Field(default_factory=list, max_length=12)
    scheduled_start: datetime
    duration_minutes: int


class BookingCreate(Body):
    """A patient's booking of a free slot (docs/booking.md)."""

    slot_id: str = Field(min_length=1, max_length=64)
    reason: str = Field(max_length=2000)
    patient_id: str | None = Field(default=None, min_length=1, max_length=64)


class Reschedule(Body):
    slot_id: str = Field(min_length=1, max_length=64)


class GuestCreate(Body):
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=320)  # for the visit reminders


def visit_out(record: service.VisitRecord) -> dict[str, Any]:
    """The visit shape (docs/visits.md) with its join window."""
    visit = record.visit
    opens, closes = service.join_window(visit)
    return {
        "id": visit.id,
        "kind": visit.kind,
        "patient_id": visit.patient_id,
        "participant_ids": list(record.participant_ids),
        "scheduled_start": iso(visit.scheduled_start),
        "duration_minutes": visit.duration_minutes,
        "status": visit.status,
        "started_at": iso(visit.started_at),
        "ended_at": iso(visit.ended_at),
        "created_by": visit.created_by,
        "patient_invited": visit.patient_invited,
        "join_opens_at": iso(opens),
        "join_closes_at": iso(closes),
    }


def guest_out(guest: VisitGuest) -> dict[str, Any]:
    return {
        "id": guest.id,
        "visit_id": guest.visit_id,
        "name": guest.name,
        "email": guest.email,
        "invited_by": guest.invited_by,
        "created_at": iso(guest.created_at),
        "used": guest.used_at is not None,
        "revoked_at": iso(guest.revoked_at),
    }


def query_time(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.replace(" ", "+"))
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise ApiError(400, f"invalid_{name}", f"{name} must be an ISO 8601 time with offset.")
    return value


def booking_settings(request: web.Request) -> booking.Settings:
    """The service's booking rules (time zone, the cut-off for patients' changes)."""
    return booking.settings_of(request.app[keys.SETTINGS])


@routes.post("/api/v1/visits")
@requires(*VISIT_ROLES)
async def visits_create(request: web.Request) -> web.Response:
    """Book a free slot (`{slot_id, reason}`), or schedule a visit (clinicians)."""
    raw = await read_json(request)
    if isinstance(raw, dict) and "slot_id" in raw:
        wanted = validate(BookingCreate, raw)
        booked = await call(request, booking.book, booking_settings(request),
                            slot_id=wanted.slot_id, reason=wanted.reason,
                            patient_id=wanted.patient_id, request_id=request_id(request))
        return ok(visit_out(booked), status=201)
    data = validate(VisitCreate, raw)
    record = await call(request, service.schedule_visit, kind=data.kind, patient_id=data.patient_id,
                        participant_ids=data.participant_ids, scheduled_start=data.scheduled_start,
                        duration_minutes=data.duration_minutes, request_id=request_id(request))
    return ok(visit_out(record), status=201)


@routes.get("/api/v1/visits")
@requires(*VISIT_ROLES)
async def visits_list(request: web.Request) -> web.Response:
    page = parse_page(request.query, key=("datetime", "str"))
    status = request.query.get("status")
    if status is not None and status not in (*service.OPEN_STATUSES, "completed", "cancelled"):
        raise ApiError(400, "invalid_status", "Unknown visit status.")
    records = await call(request, service.list_visits, page, since=query_time(request, "from"),
                         until=query_time(request, "to"), patient_id=request.query.get("patient"),
                         status=status, request_id=request_id(request))
    next_cursor = None
    if len(records) == page.limit:
        last = records[-1].visit
        next_cursor = encode_cursor([last.scheduled_start.isoformat(), last.id])
    return listing([visit_out(r) for r in records], next_cursor)


@routes.get(f"/api/v1/visits/{VISIT_ID}/calendar.ics")
@requires(*VISIT_ROLES)
async def visits_calendar(request: web.Request) -> web.Response:
    visit_id = request.match_info["visit_id"]
    async with sessions(request)() as session:
        record = await service.load_visit(session, visit_id)
        await service.authorize_visit(session, principal(request), record, action="export",
                                      request_id=request_id(request))
        await session.commit()
    settings = request.app[keys.SETTINGS]
    lang = negotiate(request.headers.get("Accept-Language", ""), settings.language)
    payload = visit_ics(
        record.visit,
        summary=gettext(lang, KIND_LABELS.get(record.visit.kind, "Televisit")),
        description=gettext(lang, "Join from the visit page:"),
        url=f"{settings.effective_public_url}/visits/{visit_id}",
    )
    return web.Response(
        body=payload, content_type="text/calendar", charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="visit-{visit_id}.ics"'},
    )


@routes.get(f"/api/v1/visits/{VISIT_ID}")
@requires(*VISIT_ROLES)
async def visits_get(request: web.Request) -> web.Response:
    record = await call(request, service.get_visit, request.match_info["visit_id"],
                        request_id(request))
    return ok(visit_out(record))


@routes.post(f"/api/v1/visits/{VISIT_ID}/cancel")
@requires(*VISIT_ROLES)
async def visits_cancel(request: web.Request) -> web.Response:
    record = await call(request, service.cancel_visit, request.match_info["visit_id"],
                        request_id(request), cutoff=booking_settings(request).cutoff)
    return ok(visit_out(record))


@routes.post(f"/api/v1/visits/{VISIT_ID}/reschedule")
@requires(*VISIT_ROLES)
async def visits_reschedule(request: web.Request) -> web.Response:
    """Move a booked visit to another free slot of the same clinician."""
    data = await body(request, Reschedule)
    record = await call(request, booking.reschedule, booking_settings(request),
                        request.match_info["visit_id"], slot_id=data.slot_id,
                        request_id=request_id(request))
    return ok(visit_out(record))


@routes.get(f"/api/v1/visits/{VISIT_ID}/join")
@requires(*VISIT_ROLES)
async def visits_join(request: web.Request) -> web.Response:
    """What a client needs to open the visit's WebSocket (connect to `ws_url?token=`)."""
    who = principal(request)
    visit_id = request.match_info["visit_id"]
    async with sessions(request)() as session:
        _record, role = await service.prepare_join(session, who, visit_id, request_id(request))
    return ok(join_details(request.app[keys.SETTINGS], visit_id, who.user_id, role,
                           session_id=who.session_id))


@routes.get(f"/api/v1/visits/{VISIT_ID}/guests")
@requires(*CLINICIANS)
async def visits_guests_list(request: web.Request) -> web.Response:
    found = await call(request, guests.list_guests, request.match_info["visit_id"],
                       request_id(request))
    return listing([guest_out(g) for g in found], None)


@routes.post(f"/api/v1/visits/{VISIT_ID}/guests")
@requires(*CLINICIANS)
async def visits_guests_invite(request: web.Request) -> web.Response:
    """Invite a guest: the one-time link to hand over (expires with the join window)."""
    data = await body(request, GuestCreate)
    visit_id = request.match_info["visit_id"]
    settings = request.app[keys.SETTINGS]
    invitation = await call(request, guests.invite_guest, visit_id, data.name,
                            secret=settings.secret_key, request_id=request_id(request),
                            email=data.email)
    link = guests.invitation_link(settings.effective_public_url, visit_id, invitation.token)
    return ok({**guest_out(invitation.guest), "link": link,
               "expires_at": iso(invitation.expires_at)}, status=201)


@routes.delete(f"/api/v1/visits/{VISIT_ID}/guests/{{guest_id}}")
@requires(*CLINICIANS)
async def visits_guests_revoke(request: web.Request) -> web.Response:
    """Withdraw a guest's invitation and disconnect the guest from the call."""
    visit_id = request.match_info["visit_id"]
    guest = await call(request, guests.revoke_guest, visit_id, request.match_info["guest_id"],
                       request_id(request))
    await request.app[VISIT_ROOMS].remove_user(visit_id, guests.guest_user_id(guest.id))
    return ok(guest_out(guest))
