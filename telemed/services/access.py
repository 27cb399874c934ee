"""Who may see which patient: care-team membership, consent, own record, emergency access.

Every read or change of a patient's data by a person passes through `authorize_patient`,
which also writes the audit event. A clinician needs both a place on the patient's care team
and the patient's consent; otherwise only a time-limited emergency ("break-glass") access
with a written reason opens the record, and that access is flagged in the patient's log.
"""

from __future__ import annotations

from typing import Literal

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import CareTeamMember, Consent, EmergencyAccess, Patient
from telemed.db.types import utcnow
from telemed.errors import forbidden, not_found
from telemed.notify.oncall import ONCALL_ACCESS, has_oncall_access
from telemed.principal import Principal
from telemed.services import audit
from telemed.services.audit import Resource
from telemed.services.delegates import delegated_patient_ids, is_delegate

# Resources an administrator may see: demographics only, never clinical data.
ADMIN_RESOURCES = frozenset({"patient", "consent", "access_log"})


async def in_care_team(session: AsyncSession, patient_id: str, user_id: str) -> bool:
    """True when the user is on the patient's care team."""
    return await session.get(CareTeamMember, (patient_id, user_id)) is not None


async def has_consent(session: AsyncSession, patient_id: str, user_id: str) -> bool:
    """The patient's latest decision for this clinician, else for all care staff."""
    result = await session.exec(
        select(Consent)
        .where(Consent.patient_id == patient_id)
        .where(or_(col(Consent.grantee_id).is_(None), Consent.grantee_id == user_id))
        .order_by(col(Consent.recorded_at).desc(), col(Consent.id))
    )
    rows = list(result.all())
    specific = next((c for c in rows if c.grantee_id == user_id), None)
    if specific is not None:
        return specific.granted
    general = next((c for c in rows if c.grantee_id is None), None)
    return general is not None and general.granted


async def active_emergency_access(
    session: AsyncSession, patient_id: str, user_id: str
) -> EmergencyAccess | None:
    """The user's unexpired break-glass access to the patient, if any."""
    result = await session.exec(
        select(EmergencyAccess)
        .where(EmergencyAccess.patient_id == patient_id)
        .where(EmergencyAccess.user_id == user_id)
        .where(EmergencyAccess.expires_at > utcnow())
    )
    return result.first()


async def authorize_patient(
    session: AsyncSession,
    who: Principal,
    patient_id: str,
    *,
    action: Literal["read", "create", "update", "delete", "export"],
    resource: Resource,
    resource_id: str | None = None,
    reason: str | None = None,
    request_id: str | None = None,
) -> Patient:
    """The patient if `who` may act on its `resource`; audits success and refusal alike."""
    patient = await session.get(Patient, patient_id)
    if patient is None:
        raise not_found("Patient")
    emergency = False
    allowed = False
    if who.role == "patient":
        own_or_delegate = who.patient_id == patient_id or await is_delegate(
            session, patient_id, who.user_id
        )
        allowed = own_or_delegate and action in ("read", "export")
    elif who.role == "admin":
        allowed = resource in ADMIN_RESOURCES
    elif who.is_clinician:
        allowed = await in_care_team(session, patient_id, who.user_id) and await has_consent(
            session, patient_id, who.user_id
        )
        if not allowed and await has_consent(session, patient_id, who.user_id) and \
                await has_oncall_access(session, patient_id, who.user_id):
            allowed = True  # an alert escalated to them during their on-call shift
            reason = f"{ONCALL_ACCESS}: {reason}" if reason else ONCALL_ACCESS
        if not allowed:
            grant = await active_emergency_access(session, patient_id, who.user_id)
            if grant is not None:
                allowed, emergency = True, True
                reason = reason or grant.reason
    audit.record(
        session,
        actor=who,
        action=action,
        resource=resource,
        patient_id=patient_id,
        resource_id=resource_id,
        reason=reason,
        emergency=emergency,
        outcome="success" if allowed else "denied",
        request_id=request_id,
    )
    if not allowed:
        await session.commit()
        raise forbidden("You have no access to this patient's record.")
    return patient


async def visible_patient_ids(session: AsyncSession, who: Principal) -> list[str] | None:
    """Ids of patients `who` may list (None means every patient, for admins)."""
    if who.role == "admin":
        return None
    if who.role == "patient":
        own = [who.patient_id] if who.patient_id else []
        return own + await delegated_patient_ids(session, who.user_id)
    result = await session.exec(
        select(CareTeamMember.patient_id).where(CareTeamMember.user_id == who.user_id)
    )
    return [pid for pid in result.all() if await has_consent(session, pid, who.user_id)]
