"""AuditEvent: one line of a patient's access log (who read or changed what, when, why)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.api.fhir.common import (
    ACT_REASON,
    AUDIT_ENTITY_TYPE,
    AUDIT_EVENT_TYPE,
    OBJECT_ROLE,
    RESTFUL_INTERACTION,
    coding,
    instant,
    reference,
)
from telemed.api.fhir.search import SearchParam, SearchQuery, date_bounds
from telemed.api.fhir.spec import Entry, ResourceSpec
from telemed.db.models import AuditEvent, User
from telemed.services.audit import reason_of
from telemed.services.fhir_rows import AUDIT_EVENTS, audit_event_conditions, by_id
from telemed.services.users import users_by_id

# Telemed action → AuditEventAction (C create, R read/view/print, U update, D delete,
# E execute: log-in, break-glass and other functions).
ACTIONS = {"create": "C", "read": "R", "export": "R", "update": "U", "delete": "D"}
INTERACTIONS = {"create": "create", "read": "read", "update": "update", "delete": "delete"}
OUTCOMES = {"success": "0", "denied": "4"}  # 4 = minor failure (refused request)
CLINICIAN_ROLES = ("doctor", "nurse")


def _who(event: AuditEvent, actor: User | None) -> dict[str, Any]:
    if event.actor_id is None:
        return {"display": "Telemed"}
    name = actor.display_name if actor is not None else None
    if actor is not None and actor.role == "patient" and actor.patient_id:
        return reference("Patient", actor.patient_id, name)
    if event.actor_role in CLINICIAN_ROLES:
        return reference("Practitioner", event.actor_id, name)
    who: dict[str, Any] = {"identifier": {"value": event.actor_id}}
    if name:
        who["display"] = name
    return who


def _agent(event: AuditEvent, actor: User | None) -> dict[str, Any]:
    agent: dict[str, Any] = {"who": _who(event, actor), "requestor": True}
    role = event.actor_role or ("system" if event.actor_id is None else None)
    if role:
        agent["type"] = {"text": role}
    return agent


def _entities(event: AuditEvent) -> list[dict[str, Any]]:
    touched: dict[str, Any] = {
        "type": coding(AUDIT_ENTITY_TYPE, "2", "System Object"),
        "name": event.resource,
    }
    if event.resource_id:
        touched["what"] = {"identifier": {"value": event.resource_id}}
    reason = reason_of(event)
    if reason is not None:  # the English text, and the stable code it says
        touched["detail"] = [{"type": "reason", "valueString": reason.text()},
                             {"type": "reason_code", "valueString": reason.code}]
    if event.patient_id is None:
        return [touched]
    patient: dict[str, Any] = {
        "what": reference("Patient", event.patient_id),
        "type": coding(AUDIT_ENTITY_TYPE, "1", "Person"),
        "role": coding(OBJECT_ROLE, "1", "Patient"),
    }
    return [patient, touched]


def audit_event_resource(event: AuditEvent, actor: User | None = None) -> dict[str, Any]:
    """A FHIR R4 AuditEvent from an audit row of a patient (``actor``: who acted, if known)."""
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": str(event.id),
        "type": coding(AUDIT_EVENT_TYPE, "rest", "RESTful Operation"),
        "action": ACTIONS.get(event.action, "E"),
        "recorded": instant(event.at),
        "outcome": OUTCOMES.get(event.outcome, "4"),
        "agent": [_agent(event, actor)],
        "source": {"site": "Telemed", "observer": {"display": "Telemed"}},
        "entity": _entities(event),
    }
    if event.action in INTERACTIONS:
        resource["subtype"] = [coding(RESTFUL_INTERACTION, INTERACTIONS[event.action],
                                      event.action)]
    if event.outcome != "success":
        resource["outcomeDesc"] = event.outcome
    if event.emergency:
        resource["purposeOfEvent"] = [{
            "coding": [coding(ACT_REASON, "ETREAT", "Emergency Treatment")],
            "text": "Emergency (break-glass) access",
        }]
    return resource


# --- search and read ----------------------------------------------------------------------


def _conditions(query: SearchQuery) -> list[Any]:
    return audit_event_conditions(date_bounds(query))


async def _render(session: AsyncSession, rows: Sequence[Any]) -> list[Entry]:
    users = await users_by_id(session, {row.actor_id for row in rows if row.actor_id})
    return [Entry(row.patient_id, audit_event_resource(row, users.get(row.actor_id or "")), row)
            for row in rows]


async def _load(session: AsyncSession, ident: str) -> Entry | None:
    if not ident.isdigit() or len(ident) > 18:
        return None
    event = await by_id(session, AuditEvent, int(ident))
    if event is None or event.patient_id is None:
        return None
    return (await _render(session, [event]))[0]


SPEC = ResourceSpec(
    type="AuditEvent",
    audit_resource="access_log",  # the patient's access log: the patient and administrators
    roles=("patient", "admin"),
    table=AUDIT_EVENTS,
    key_types=("int",),
    render=_render,
    load=_load,
    params=(
        SearchParam("patient", "reference", "The patient whose record was accessed."),
        SearchParam("date", "date", "When it was recorded, with prefixes eq ne gt ge lt le."),
    ),
    conditions=_conditions,
    documentation="Who read or changed what of a patient's record, newest first.",
)
