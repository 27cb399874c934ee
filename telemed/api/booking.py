"""Booking (docs/booking.md): availability and days off of clinicians, free slots.

Booking itself, moving and cancelling are `POST /api/v1/visits {slot_id, reason}`,
`POST /api/v1/visits/{id}/reschedule` and `POST /api/v1/visits/{id}/cancel` (api/visits.py).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from aiohttp import web
from pydantic import Field

from telemed.api.common import Body, body, call, listing, ok, query_text, sessions
from telemed.api.shapes import iso
from telemed.api.visits import booking_settings, query_time
from telemed.db.models import Availability, AvailabilityException
from telemed.db.types import utcnow
from telemed.domain.booking import BOOKABLE_KINDS
from telemed.errors import ApiError
from telemed.principal import CLINICIANS, Role, principal, requires
from telemed.services import booking as service

routes = web.RouteTableDef()

BOOKERS: tuple[Role, ...] = ("doctor", "nurse", "patient")
DEFAULT_SPAN = timedelta(days=14)


class AvailabilityCreate(Body):
    weekday: int
    start: str = Field(max_length=5)
    end: str = Field(max_length=5)
    slot_minutes: int
    kind: str = Field(default="televisit", max_length=16)


class DayOffCreate(Body):
    first_day: date
    last_day: date
    note: str | None = Field(default=None, max_length=service.MAX_NOTE)


def availability_out(row: Availability) -> dict[str, Any]:
    return {"id": row.id, "clinician_id": row.clinician_id, "weekday": row.weekday,
            "start": row.start, "end": row.end, "slot_minutes": row.slot_minutes,
            "kind": row.kind}


def day_off_out(row: AvailabilityException) -> dict[str, Any]:
    return {"id": row.id, "clinician_id": row.clinician_id,
            "first_day": row.first_day.isoformat(), "last_day": row.last_day.isoformat(),
            "note": row.note}


def slot_out(slot: service.FreeSlot) -> dict[str, Any]:
    return {"id": slot.id, "clinician_id": slot.clinician_id, "start": iso(slot.slot.start),
            "end": iso(slot.slot.end), "kind": slot.slot.kind}


@routes.get("/api/v1/availability")
@requires(*CLINICIANS)
async def availability_list(request: web.Request) -> web.Response:
    """The caller's weekly hours and days off (`?clinician=`: another clinician's)."""
    clinician = query_text(request.query, "clinician", max_length=32) \
        or principal(request).user_id
    async with sessions(request)() as session:
        hours, off = await service.availability_of(session, clinician)
    return ok({"items": [availability_out(r) for r in hours],
               "exceptions": [day_off_out(r) for r in off], "next_cursor": None})


@routes.post("/api/v1/availability")
@requires(*CLINICIANS)
async def availability_create(request: web.Request) -> web.Response:
    data = await body(request, AvailabilityCreate)
    row = await call(request, service.add_availability, weekday=data.weekday, start=data.start,
                     end=data.end, slot_minutes=data.slot_minutes, kind=data.kind)
    return ok(availability_out(row), status=201)


@routes.delete("/api/v1/availability/{rule_id}")
@requires(*CLINICIANS)
async def availability_delete(request: web.Request) -> web.Response:
    await call(request, service.delete_availability, request.match_info["rule_id"])
    return web.Response(status=204)


@routes.get("/api/v1/availability/exceptions")
@requires(*CLINICIANS)
async def day_off_list(request: web.Request) -> web.Response:
    async with sessions(request)() as session:
        _, off = await service.availability_of(session, principal(request).user_id)
    return listing([day_off_out(r) for r in off], None)


@routes.post("/api/v1/availability/exceptions")
@requires(*CLINICIANS)
async def day_off_create(request: web.Request) -> web.Response:
    data = await body(request, DayOffCreate)
    row = await call(request, service.add_day_off, first_day=data.first_day, last_day=data.last_day,
                     note=data.note, today=utcnow().date())
    return ok(day_off_out(row), status=201)


@routes.delete("/api/v1/availability/exceptions/{exception_id}")
@requires(*CLINICIANS)
async def day_off_delete(request: web.Request) -> web.Response:
    await call(request, service.delete_day_off, request.match_info["exception_id"])
    return web.Response(status=204)


@routes.get("/api/v1/slots")
@requires(*BOOKERS)
async def slots_list(request: web.Request) -> web.Response:
    """Free slots (`?clinician=&kind=&from=&to=`; by default the next 14 days)."""
    since = query_time(request, "from") or utcnow()
    until = query_time(request, "to") or since + DEFAULT_SPAN
    kind = query_text(request.query, "kind", max_length=16)
    if kind is not None and kind not in BOOKABLE_KINDS:
        raise ApiError(400, "invalid_kind", "kind must be televisit or teleassistance.")
    async with sessions(request)() as session:
        found = await service.free_slots(
            session, booking_settings(request), since=since, until=until,
            clinician_id=query_text(request.query, "clinician", max_length=32), kind=kind)
    return listing([slot_out(s) for s in found], None)

