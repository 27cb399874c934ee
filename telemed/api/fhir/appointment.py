"""Appointment: a scheduled televisit, teleconsult or teleassistance.

Status mapping (Telemed visit → FHIR AppointmentStatus):

=============  ===========  ==============================================================
visit          appointment  why
=============  ===========  ==============================================================
scheduled      booked       confirmed slot, nobody has joined yet
waiting        arrived      the patient is in the waiting room, waiting to be admitted
in_progress    fulfilled    the appointment has been honoured: the visit took place
                            (started); whether it still runs is Encounter's business
completed      fulfilled    the visit is over
cancelled      cancelled
=============  ===========  ==============================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.api.fhir.common import instant, reference
from telemed.api.fhir.search import SearchParam, SearchQuery, date_bounds, token_codes
from telemed.api.fhir.spec import PATIENT, Entry, ResourceSpec
from telemed.db.models import Visit
from telemed.principal import CLINICIANS, Principal
from telemed.services.fhir_rows import (
    APPOINTMENTS,
    appointment_conditions,
    by_id,
    visit_practitioners,
)
from telemed.services.visits import VisitRecord, authorize_visit, invited_scope, shown_to

STATUS = {
    "scheduled": "booked",
    "waiting": "arrived",
    "in_progress": "fulfilled",
    "completed": "fulfilled",
    "cancelled": "cancelled",
}
KIND_TEXT = {
    "televisit": "Televisit",
    "teleconsult": "Teleconsult",
    "teleassistance": "Teleassistance",
}


def visit_statuses(fhir_status: str) -> list[str]:
    """The visit statuses an AppointmentStatus search value stands for."""
    return [visit for visit, fhir in STATUS.items() if fhir == fhir_status]


def appointment_resource(
    visit: Visit, practitioners: Sequence[tuple[str, str]] = ()
) -> dict[str, Any]:
    """A FHIR R4 Appointment from a visit and its clinicians ``(user id, display name)``."""
    kind = KIND_TEXT.get(visit.kind, visit.kind)
    end = visit.scheduled_start + timedelta(minutes=visit.duration_minutes)
    participants: list[dict[str, Any]] = [
        {"actor": reference("Patient", visit.patient_id), "required": "required",
         "status": "accepted"},
    ]
    participants.extend(
        {"actor": reference("Practitioner", user_id, name), "required": "required",
         "status": "accepted"}
        for user_id, name in practitioners
    )
    return {
        "resourceType": "Appointment",
        "id": visit.id,
        "status": STATUS.get(visit.status, "booked"),
        "serviceType": [{"text": kind}],
        "description": f"{kind} (Telemed)",
        "start": instant(visit.scheduled_start),
        "end": instant(end),
        "minutesDuration": visit.duration_minutes,
        "created": instant(visit.created_at),
        "participant": participants,
    }


# --- search and read ----------------------------------------------------------------------


def _conditions(query: SearchQuery) -> list[Any]:
    statuses = [[v for code in token_codes(alts) for v in visit_statuses(code)]
                for alts in query.all_of("status")]
    return appointment_conditions(date_bounds(query), statuses)


async def _render(session: AsyncSession, rows: Sequence[Any]) -> list[Entry]:
    people = await visit_practitioners(session, [v.id for v in rows])
    entries = []
    for visit in rows:
        invited = people.get(visit.id, [])
        record = VisitRecord(visit, tuple(sorted(uid for uid, _ in invited)))
        entries.append(Entry(visit.patient_id, appointment_resource(visit, invited), record))
    return entries


async def _load(session: AsyncSession, ident: str) -> Entry | None:
    visit = await by_id(session, Visit, ident)
    return (await _render(session, [visit]))[0] if visit else None


async def _authorize(
    session: AsyncSession, who: Principal, entry: Entry, request_id: str | None
) -> None:
    """As for the visit itself: invited clinicians, the patient and the care team (a
    clinicians-only visit is not found for the patient's side)."""
    await authorize_visit(session, who, entry.source, action="read",
                          resource="fhir_appointment", request_id=request_id)


def _invited(who: Principal) -> Any:
    """Visits a clinician is invited to (a consulted specialist need not be on the team),
    while the invitation still opens them (`services.visits.invited_scope`)."""
    if not who.is_clinician:
        return None
    return invited_scope(who.user_id)


SPEC = ResourceSpec(
    type="Appointment",
    audit_resource="fhir_appointment",
    roles=(*CLINICIANS, "patient"),
    table=APPOINTMENTS,
    key_types=("datetime", "str"),
    render=_render,
    load=_load,
    params=(
        PATIENT,
        SearchParam("date", "date", "Scheduled start, with prefixes eq ne gt ge lt le sa eb."),
        SearchParam("status", "token", "booked, arrived, fulfilled or cancelled."),
    ),
    conditions=_conditions,
    extra_scope=_invited,
    narrow=shown_to,  # clinicians-only visits are not the patient's appointments
    authorize=_authorize,
    documentation="Televisits, teleconsults and teleassistance sessions, latest start first.",
)
