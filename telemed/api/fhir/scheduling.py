"""Schedule and Slot (read and search): the clinicians' published hours and free slots.

A Schedule is a clinician who publishes weekly hours (its id is the clinician's); a Slot
is one of its slots (its id is the booking API's slot id). Neither is patient data: every
signed-in clinician or patient may read them (the booking page shows them too). Searching
``Slot`` lists free slots: ``schedule=Schedule/ID``, ``start=geT`` and ``start=ltT``
(default: the next 14 days; at most 62 days), ``status=free``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

from aiohttp import web

from telemed.api.common import sessions
from telemed.api.fhir.bundle import searchset
from telemed.api.fhir.common import BASE_PATH, base_url, fhir_response, instant, reference
from telemed.api.fhir.search import bad_parameter, parse_date, parse_reference
from telemed.api.visits import booking_settings
from telemed.db.models import Availability, User
from telemed.db.types import utcnow
from telemed.domain.booking import MAX_RANGE
from telemed.errors import not_found
from telemed.principal import CARE_READERS, requires
from telemed.services import booking as service

T = TypeVar("T")

routes = web.RouteTableDef()

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
KIND_TEXT = {"televisit": "Televisit", "teleassistance": "Teleassistance"}
DEFAULT_SPAN = timedelta(days=14)


def _capability(kind: str, documentation: str,
                params: tuple[tuple[str, str, str], ...]) -> dict[str, Any]:
    return {"type": kind, "documentation": documentation,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "versioning": "no-version", "readHistory": False, "updateCreate": False,
            "searchParam": [{"name": n, "type": t, "documentation": d} for n, t, d in params]}


# Their entries in the CapabilityStatement (they are no ResourceSpec: no patient's data).
CAPABILITIES = (
    _capability("Schedule", "Clinicians who publish weekly hours for bookings.",
                (("actor", "reference", "The clinician (Practitioner/ID)."),)),
    _capability("Slot", "Free slots of the clinicians' hours (read: free or busy).",
                (("schedule", "reference", "The clinician's Schedule (Schedule/ID)."),
                 ("start", "date", "Start, with prefixes ge gt lt le (at most 62 days)."),
                 ("status", "token", "free (the only status listed)."))),
)


def schedule_resource(user: User, hours: list[Availability]) -> dict[str, Any]:
    """A FHIR R4 Schedule of a clinician's weekly hours."""
    kinds = sorted({h.kind for h in hours})
    now = utcnow()
    comment = "; ".join(f"{WEEKDAYS[h.weekday]} {h.start}-{h.end} ({h.slot_minutes} min)"
                        for h in hours)
    return {
        "resourceType": "Schedule",
        "id": user.id,
        "active": True,
        "serviceType": [{"text": KIND_TEXT.get(k, k)} for k in kinds],
        "actor": [reference("Practitioner", user.id, user.display_name)],
        "planningHorizon": {"start": instant(now), "end": instant(now + MAX_RANGE)},
        "comment": f"Weekly hours, local time: {comment}",
    }


def slot_resource(slot: service.FreeSlot, status: str) -> dict[str, Any]:
    """A FHIR R4 Slot."""
    return {
        "resourceType": "Slot",
        "id": slot.id,
        "schedule": reference("Schedule", slot.clinician_id),
        "status": status,
        "serviceType": [{"text": KIND_TEXT.get(slot.slot.kind, slot.slot.kind)}],
        "start": instant(slot.slot.start),
        "end": instant(slot.slot.end),
    }


def _only(request: web.Request, allowed: set[str]) -> None:
    for name in request.query:
        if name not in allowed:
            raise bad_parameter(f"Search parameter {name!r} is not supported.")


def _every(request: web.Request, resources: list[dict[str, Any]]) -> web.Response:
    """A searchset of every match (these searches are not paged)."""
    return fhir_response(searchset(base_url(request), resources, total=len(resources),
                                   self_url=str(request.url)))


def _found(kind: str, ident: str, found: T | None) -> T:
    """`found`, or 404 naming ``kind/ident``."""
    if found is None:
        raise not_found(f"{kind}/{ident}")
    return found


@routes.get(f"{BASE_PATH}/Schedule")
@requires(*CARE_READERS)
async def schedule_search(request: web.Request) -> web.Response:
    _only(request, {"actor"})
    actor = request.query.get("actor")
    async with sessions(request)() as session:
        if actor is not None:
            found = await service.schedule_of(session, parse_reference(actor, "Practitioner"))
            people = [found] if found else []
        else:
            people = []
            for user in await service.bookable_clinicians(session):
                one = await service.schedule_of(session, user.id)
                if one is not None:
                    people.append(one)
    return _every(request, [schedule_resource(user, hours) for user, hours in people])


@routes.get(f"{BASE_PATH}/Schedule/{{id}}")
@requires(*CARE_READERS)
async def schedule_read(request: web.Request) -> web.Response:
    ident = request.match_info["id"]
    async with sessions(request)() as session:
        found = await service.schedule_of(session, ident)
    return fhir_response(schedule_resource(*_found("Schedule", ident, found)))


@routes.get(f"{BASE_PATH}/Slot")
@requires(*CARE_READERS)
async def slot_search(request: web.Request) -> web.Response:
    _only(request, {"schedule", "start", "status"})
    since, until = utcnow(), None
    for raw in request.query.getall("start", []):
        bound = parse_date(raw)
        if bound.prefix in ("ge", "gt", "sa"):
            since = bound.start if bound.prefix == "ge" else bound.end
        elif bound.prefix in ("lt", "le", "eb"):
            until = bound.start if bound.prefix == "lt" else bound.end
        else:
            raise bad_parameter("start takes ge, gt, lt or le.")
    status = request.query.get("status", "free")
    if status != "free":
        raise bad_parameter("Only free slots are listed (status=free).")
    schedule = request.query.get("schedule")
    clinician = parse_reference(schedule, "Schedule") if schedule is not None else None
    async with sessions(request)() as session:
        found = await service.free_slots(session, booking_settings(request), since=since,
                                         until=until or since + DEFAULT_SPAN,
                                         clinician_id=clinician)
    return _every(request, [slot_resource(s, "free") for s in found])


@routes.get(f"{BASE_PATH}/Slot/{{id}}")
@requires(*CARE_READERS)
async def slot_read(request: web.Request) -> web.Response:
    ident = request.match_info["id"]
    async with sessions(request)() as session:
        found = await service.slot_status(session, booking_settings(request), ident)
    return fhir_response(slot_resource(*_found("Slot", ident, found)))
