"""The one place that records who read or changed which patient's data, when and why.

An audit line describes the action and the kind of resource, never clinical values:
administrators read the access log and the FHIR AuditEvents. A `reason` is a short,
non-clinical word or code ("acknowledge", "version 3", "emergency: on_call_cover"); notes,
alert details, readings and free-text emergency reasons stay in their own rows, behind the
clinical access rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from sqlalchemy import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import AuditEvent
from telemed.db.types import utcnow
from telemed.principal import Principal

Action = Literal["read", "create", "update", "delete", "login", "export", "emergency"]
# What was read or changed; the patient's privacy page names each one (views/privacy.py).
Resource = Literal[
    "access_log", "alert", "careplan", "careteam", "consent", "delegation", "device", "document",
    "emergency_review",
    "fhir_appointment", "fhir_careplan", "fhir_flag", "fhir_observation", "observation",
    "patient", "user", "visit", "visit_guest", "visit_report",
    "questionnaire_response", "fhir_questionnaire_response",
    "teleconsult", "attachment", "study", "series",
]


MAX_REASON = 1000  # the column's length


def fit_reason(reason: str | None) -> str | None:
    """A reason that fits the column: a longer one (composed, like ``granted: <the note>``,
    whose full text is stored with its own record) ends with an ellipsis, visibly shortened."""
    if reason is None or len(reason) <= MAX_REASON:
        return reason
    return reason[:MAX_REASON - 1] + "…"


def record(
    session: AsyncSession,
    *,
    actor: Principal | None,
    action: Action,
    resource: Resource,
    patient_id: str | None = None,
    resource_id: str | None = None,
    reason: str | None = None,
    emergency: bool = False,
    outcome: Literal["success", "denied"] = "success",
    request_id: str | None = None,
) -> AuditEvent:
    """Add an audit event to the session's transaction (committed with the change it records)."""
    event = AuditEvent(
        actor_id=actor.user_id if actor else None,
        actor_role=actor.role if actor else None,
        patient_id=patient_id,
        action=action,
        resource=resource,
        resource_id=resource_id,
        reason=fit_reason(reason),
        emergency=emergency,
        outcome=outcome,
        request_id=request_id,
    )
    session.add(event)
    return event


async def record_reads(
    session: AsyncSession,
    *,
    actor: Principal,
    resource: Resource,
    reads: Iterable[tuple[str, str | None]],
    reason: str | None = None,
    request_id: str | None = None,
) -> None:
    """One ``read`` row per (patient id, resource id or None) a page shows (what is shown,
    never the population), in sorted order, written in one statement with the caller's
    transaction: a page of 200 patients costs one statement, not 200."""
    await _insert(session, actor, "read", resource, [
        (pid, resource_id, reason)
        for pid, resource_id in sorted(set(reads), key=lambda r: (r[0], r[1] or ""))
    ], request_id)


async def record_rule_updates(session: AsyncSession, *, resource: Resource,
                              changes: Iterable[tuple[str, str, str]]) -> None:
    """`record` of many updates made by the rules (actor ``None``), one row per
    (patient id, resource id, reason) in the order given, written in one statement."""
    await _insert(session, None, "update", resource, list(changes), None)


async def _insert(session: AsyncSession, actor: Principal | None, action: Action,
                  resource: Resource, rows: list[tuple[str, str | None, str | None]],
                  request_id: str | None) -> None:
    at = utcnow()
    values = [
        {"at": at, "actor_id": actor.user_id if actor else None,
         "actor_role": actor.role if actor else None, "patient_id": pid, "action": action,
         "resource": resource, "resource_id": resource_id, "reason": fit_reason(reason),
         "emergency": False, "outcome": "success", "request_id": request_id}
        for pid, resource_id, reason in rows
    ]
    if values:
        conn = await session.connection()
        await conn.execute(insert(AuditEvent), values)
