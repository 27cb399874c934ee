"""The one place that records who read or changed which patient's data, when and why.

An audit line describes the action and the kind of resource, never clinical values:
administrators read the access log and the FHIR AuditEvents. A `reason` is a code with
parameters (`telemed.domain.audit_reasons.Reason`: ``reason("careplan_version", version=3)``),
said in the reader's language where it is shown; notes, alert details, readings and free-text
emergency reasons stay in their own rows, behind the clinical access rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, cast

from sqlalchemy import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import AuditEvent
from telemed.db.types import utcnow
from telemed.domain.audit_reasons import Reason, ReasonCode
from telemed.errors import ApiError
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


def reason_of(event: AuditEvent) -> Reason | None:
    """The reason of a stored audit row (a code this version does not know is kept as is)."""
    if event.reason_code is None:
        return None
    params = {name: str(value) for name, value in (event.reason_params or {}).items()}
    return Reason(cast(ReasonCode, event.reason_code), params)


def reason_columns(reason: Reason | None) -> tuple[str | None, dict[str, Any] | None]:
    """The ``reason_code`` and ``reason_params`` column values of `reason`."""
    if reason is None:
        return None, None
    return reason.code, dict(reason.params) or None


def record(
    session: AsyncSession,
    *,
    actor: Principal | None,
    action: Action,
    resource: Resource,
    patient_id: str | None = None,
    resource_id: str | None = None,
    reason: Reason | None = None,
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
        emergency=emergency,
        outcome=outcome,
        request_id=request_id,
    )
    event.reason_code, event.reason_params = reason_columns(reason)
    session.add(event)
    return event


async def refused(session: AsyncSession, error: ApiError, *, actor: Principal, action: Action,
                  resource: Resource, patient_id: str | None = None,
                  resource_id: str | None = None, request_id: str | None = None) -> ApiError:
    """Record a refused request and commit it (the refusal stays in the log, the request
    changes nothing); `error` to raise: ``raise await audit.refused(session, forbidden(...),
    ...)``."""
    record(session, actor=actor, action=action, resource=resource, patient_id=patient_id,
           resource_id=resource_id, outcome="denied", request_id=request_id)
    await session.commit()
    return error


async def record_reads(
    session: AsyncSession,
    *,
    actor: Principal,
    resource: Resource,
    reads: Iterable[tuple[str, str | None]],
    reason: Reason | None = None,
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
                              changes: Iterable[tuple[str, str, Reason]]) -> None:
    """`record` of many updates made by the rules (actor ``None``), one row per
    (patient id, resource id, reason) in the order given, written in one statement."""
    await _insert(session, None, "update", resource, list(changes), None)


async def _insert(session: AsyncSession, actor: Principal | None, action: Action,
                  resource: Resource, rows: list[tuple[str, str | None, Reason | None]],
                  request_id: str | None) -> None:
    at = utcnow()
    values = [
        {"at": at, "actor_id": actor.user_id if actor else None,
         "actor_role": actor.role if actor else None, "patient_id": pid, "action": action,
         "resource": resource, "resource_id": resource_id,
         **dict(zip(("reason_code", "reason_params"), reason_columns(reason), strict=True)),
         "emergency": False, "outcome": "success", "request_id": request_id}
        for pid, resource_id, reason in rows
    ]
    if values:
        conn = await session.connection()
        await conn.execute(insert(AuditEvent), values)
