"""Consent to consultation, emergency (break-glass) access and the patient's access log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import AuditEvent, Consent, EmergencyAccess, Patient, User
from telemed.db.types import utcnow
from telemed.errors import forbidden, invalid, not_found
from telemed.principal import CLINICIANS, Principal
from telemed.services import audit, free_text
from telemed.services.access import authorize_patient
from telemed.services.delegates import may_manage_record

EMERGENCY_MINUTES = 60
MIN_REASON_LENGTH = 15
MAX_REASON_LENGTH = 1000


async def record_enrolment_consent(
    session: AsyncSession, patient_id: str, recorded_by: str
) -> Consent:
    """The consent collected when a patient is enrolled (granted to the care staff)."""
    consent = Consent(patient_id=patient_id, granted=True, recorded_by=recorded_by,
                      note="Consent collected at enrolment")
    session.add(consent)
    return consent


async def list_consents(session: AsyncSession, who: Principal, patient_id: str) -> list[Consent]:
    """The patient's consent decisions, newest first."""
    await authorize_patient(session, who, patient_id, action="read", resource="consent")
    result = await session.exec(
        select(Consent).where(Consent.patient_id == patient_id)
        .order_by(col(Consent.recorded_at).desc())
    )
    await session.commit()
    return list(result.all())


async def decide_consent(
    session: AsyncSession,
    who: Principal,
    patient_id: str,
    *,
    granted: bool,
    grantee_id: str | None,
    note: str | None,
) -> Consent:
    """The patient (or an administrator on their written request) grants or revokes consent.

    `grantee_id` names one clinician; without it the decision covers all care staff.
    """
    if await session.get(Patient, patient_id) is None:
        raise not_found("Patient")
    if not may_manage_record(who, patient_id):
        audit.record(session, actor=who, action="update", resource="consent",
                     patient_id=patient_id, outcome="denied")
        await session.commit()
        raise forbidden("Only the patient can change their consent.")
    if grantee_id is not None:
        grantee = await session.get(User, grantee_id)
        if grantee is None or grantee.role not in CLINICIANS:
            raise invalid({"grantee_id": "No such doctor or nurse."})
    note = free_text.optional(note, "note", max_length=MAX_REASON_LENGTH, multiline=True)
    if note is not None and len(note) > MAX_REASON_LENGTH:
        raise invalid({"note": "At most 1000 characters."})
    consent = Consent(patient_id=patient_id, grantee_id=grantee_id, granted=granted,
                      recorded_by=who.user_id, note=note)
    session.add(consent)
    audit.record(session, actor=who, action="update", resource="consent",
                 patient_id=patient_id, resource_id=grantee_id,
                 reason=("granted" if granted else "revoked") + (f": {note}" if note else ""))
    await session.commit()
    return consent


async def break_glass(
    session: AsyncSession, who: Principal, patient_id: str, reason: str
) -> EmergencyAccess:
    """Open a patient's record in an emergency: written reason, time-limited, flagged."""
    if not who.is_clinician:
        raise forbidden("Only doctors and nurses can use emergency access.")
    reason = free_text.optional(reason, "reason", max_length=MAX_REASON_LENGTH,
                                collapse=True) or ""
    if len(reason) < MIN_REASON_LENGTH:
        raise invalid({"reason": "Write why you need emergency access (at least 15 characters)."})
    if len(reason) > MAX_REASON_LENGTH:
        raise invalid({"reason": "At most 1000 characters."})
    if await session.get(Patient, patient_id) is None:
        raise not_found("Patient")
    grant = EmergencyAccess(patient_id=patient_id, user_id=who.user_id, reason=reason,
                            expires_at=utcnow() + timedelta(minutes=EMERGENCY_MINUTES))
    session.add(grant)
    audit.record(session, actor=who, action="emergency", resource="patient",
                 patient_id=patient_id, resource_id=grant.id, reason=reason, emergency=True)
    await session.commit()
    return grant


@dataclass(frozen=True)
class AccessLogEntry:
    """One line of a patient's access log."""

    at: datetime
    actor_id: str | None
    actor_name: str
    actor_role: str | None
    action: str
    resource: str
    resource_id: str | None
    reason: str | None
    emergency: bool
    outcome: str


async def access_log(
    session: AsyncSession,
    who: Principal,
    patient_id: str,
    *,
    limit: int = 200,
    before_id: int | None = None,
) -> tuple[list[AccessLogEntry], int | None]:
    """Who read or changed what of this patient, newest first; and the next cursor."""
    await authorize_patient(session, who, patient_id, action="read", resource="access_log")
    await session.commit()
    query = (
        select(AuditEvent, User)
        .join(User, col(User.id) == col(AuditEvent.actor_id), isouter=True)
        .where(AuditEvent.patient_id == patient_id)
        .order_by(col(AuditEvent.id).desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(col(AuditEvent.id) < before_id)
    rows = (await session.exec(query)).all()
    entries = [
        AccessLogEntry(
            at=event.at, actor_id=event.actor_id,
            actor_name=user.display_name if user else "Telemed",
            actor_role=event.actor_role, action=event.action, resource=event.resource,
            resource_id=event.resource_id, reason=event.reason, emergency=event.emergency,
            outcome=event.outcome,
        )
        for event, user in rows
    ]
    next_cursor = rows[-1][0].id if len(rows) == limit else None
    return entries, next_cursor


async def emergency_accesses(session: AsyncSession, patient_id: str) -> list[EmergencyAccess]:
    """Every emergency access to the patient, newest first (for the patient's notice)."""
    result = await session.exec(
        select(EmergencyAccess).where(EmergencyAccess.patient_id == patient_id)
        .order_by(col(EmergencyAccess.granted_at).desc())
    )
    return list(result.all())
