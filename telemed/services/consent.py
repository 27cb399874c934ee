"""Consent to consultation, emergency (break-glass) access and its review, and the patient's
access log.

Audit reasons written here carry no clinical text: a consent decision is audited as
"granted"/"revoked" (the patient's note stays in the consent row), an emergency access by
its reason code (the free text stays in the emergency row, shown to the patient and to the
reviewing doctor, never to administrators).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.bus.events import AccessChanged
from telemed.db.events import record_event
from telemed.db.models import AuditEvent, Consent, EmergencyAccess, Patient, User
from telemed.db.types import utcnow
from telemed.domain.audit_reasons import Reason, because
from telemed.domain.consent import ConsentState, Decision, consent_state
from telemed.domain.emergency import (
    DEFAULT_REASON_CODE,
    MAX_TEXT_LENGTH,
    MIN_REASON_LENGTH,
    REASON_CODES,
    REVIEW_OUTCOMES,
)
from telemed.errors import N_, ApiError, conflict, forbidden, invalid, not_found
from telemed.notify import outbox
from telemed.principal import CLINICIANS, Principal
from telemed.services import audit, free_text, scope
from telemed.services.access import (
    authorize_patient,
    responsible_doctors,
)
from telemed.services.delegates import may_manage_record
from telemed.services.users import display_names

EMERGENCY_MINUTES = 60
MAX_REASON_LENGTH = MAX_TEXT_LENGTH


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
        raise await audit.refused(session, forbidden("Only the patient can change their consent."),
                                  actor=who, action="update", resource="consent",
                                  patient_id=patient_id)
    if grantee_id is not None:
        grantee = await session.get(User, grantee_id)
        if grantee is None or grantee.role not in CLINICIANS:
            raise invalid({"grantee_id": N_("No such doctor or nurse.")})
    note = free_text.optional(note, "note", max_length=MAX_REASON_LENGTH, multiline=True)
    if note is not None and len(note) > MAX_REASON_LENGTH:
        raise invalid({"note": N_("At most 1000 characters.")})
    if who.role == "admin" and not (note or "").strip():
        raise invalid({"note": N_("An administrator records the patient's written request "
                                  "(its reference) in the note.")})
    consent = Consent(patient_id=patient_id, grantee_id=grantee_id, granted=granted,
                      recorded_by=who.user_id, note=note)
    session.add(consent)
    audit.record(session, actor=who, action="update", resource="consent",
                 patient_id=patient_id, resource_id=grantee_id,
                 reason=because("consent_granted" if granted else "consent_revoked"))
    record_event(session, AccessChanged(patient_id))
    await session.commit()
    return consent


def consent_in_force(consents: list[Consent]) -> ConsentState:
    """What the patient's decisions mean now (`telemed.domain.consent`)."""
    return consent_state([Decision(c.granted, c.grantee_id, c.recorded_at)
                          for c in sorted(consents, key=lambda c: c.recorded_at)])


async def break_glass(
    session: AsyncSession, who: Principal, patient_id: str, reason: str,
    reason_code: str | None,
) -> EmergencyAccess:
    """Open a patient's record in an emergency: a reason from the list and in words,
    time-limited, read-only (`telemed.domain.emergency`), flagged and reviewed afterwards."""
    if not who.is_clinician:
        raise forbidden("Only doctors and nurses can use emergency access.")
    reason = free_text.optional(reason, "reason", max_length=MAX_REASON_LENGTH,
                                collapse=True) or ""
    errors: dict[str, str] = {}
    reason_code = reason_code or DEFAULT_REASON_CODE
    if reason_code not in REASON_CODES:
        errors["reason_code"] = N_("Unknown reason; choose one of the list.")
    if len(reason) < MIN_REASON_LENGTH:
        errors["reason"] = N_("Write why you need emergency access (at least 15 characters).")
    elif len(reason) > MAX_REASON_LENGTH:
        errors["reason"] = N_("At most 1000 characters.")
    if errors:
        raise ApiError(422, "validation_error", "Some fields are not valid.", fields=errors)
    if await session.get(Patient, patient_id) is None:
        raise not_found("Patient")
    grant = EmergencyAccess(patient_id=patient_id, user_id=who.user_id, reason=reason,
                            reason_code=reason_code,
                            expires_at=utcnow() + timedelta(minutes=EMERGENCY_MINUTES))
    session.add(grant)
    audit.record(session, actor=who, action="emergency", resource="patient",
                 patient_id=patient_id, resource_id=grant.id,
                 reason=because("emergency", grounds=reason_code), emergency=True)
    await outbox.emergency_access(session, patient_id, grant.id)  # same transaction
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
    reason: Reason | None
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
            resource_id=event.resource_id, reason=audit.reason_of(event), emergency=event.emergency,
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


# --- the review of emergency accesses ------------------------------------------------------


@dataclass(frozen=True)
class EmergencyItem:
    """An emergency access as its reviewers see it. `reason` (the free text) is None for
    administrators: they see who, when, the reason chosen from the list and the patient."""

    grant: EmergencyAccess
    clinician_name: str
    patient_name: str
    reason: str | None
    reviewer_name: str | None
    can_review: bool


async def _may_review(session: AsyncSession, who: Principal, grant: EmergencyAccess) -> bool:
    if who.user_id == grant.user_id:
        return False  # nobody reviews their own emergency access
    if who.role == "admin":
        return True
    return who.role == "doctor" and who.user_id in await responsible_doctors(
        session, grant.patient_id)


async def review_queue(session: AsyncSession, who: Principal, *, pending_only: bool = False,
                       limit: int = 200) -> list[EmergencyItem]:
    """Emergency accesses `who` reviews (an administrator: all; a doctor: those to patients
    it is responsible for), the ones still to review first, then newest first."""
    if who.role not in ("admin", "doctor"):
        raise forbidden("Only responsible doctors and administrators review emergency access.")
    query = (select(EmergencyAccess, Patient)
             .join(Patient, col(Patient.id) == col(EmergencyAccess.patient_id)))
    if pending_only:
        query = query.where(col(EmergencyAccess.reviewed_at).is_(None))
    rows = (await session.exec(
        query.order_by(col(EmergencyAccess.reviewed_at).is_not(None),
                       col(EmergencyAccess.granted_at).desc()).limit(limit * 5))).all()
    people = await display_names(session, {g.user_id for g, _ in rows}
                          | {g.reviewed_by for g, _ in rows if g.reviewed_by})
    items: list[EmergencyItem] = []
    for grant, patient in rows:
        if who.role == "doctor" and who.user_id not in await responsible_doctors(
                session, grant.patient_id):
            continue
        items.append(EmergencyItem(
            grant=grant, clinician_name=people.get(grant.user_id, "—"),
            patient_name=f"{patient.family_name} {patient.given_name}",
            reason=grant.reason if who.role == "doctor" else None,
            reviewer_name=people.get(grant.reviewed_by or ""),
            can_review=grant.reviewed_at is None and who.user_id != grant.user_id))
        if len(items) >= limit:
            break
    return items


async def review_emergency(session: AsyncSession, who: Principal, access_id: str, *,
                           outcome: str, note: str | None) -> EmergencyAccess:
    """Confirm or flag an emergency access after the fact (once; audited)."""
    grant = await session.get(EmergencyAccess, access_id) if len(access_id) <= 64 else None
    if grant is None:
        raise not_found("Emergency access")
    if not await _may_review(session, who, grant):
        raise await audit.refused(
            session, forbidden("Only the patient's responsible doctor or an administrator "
                               "reviews this emergency access."),
            actor=who, action="update", resource="emergency_review",
            patient_id=grant.patient_id, resource_id=grant.id)
    errors: dict[str, str] = {}
    if outcome not in REVIEW_OUTCOMES:
        errors["outcome"] = N_("Outcome must be confirmed or flagged.")
    note = note.strip() if note else None
    if note is not None and len(note) > MAX_REASON_LENGTH:
        errors["note"] = N_("At most 1000 characters.")
    if outcome == "flagged" and not note:
        errors["note"] = N_("Say why the emergency access is flagged.")
    if errors:
        raise invalid(errors)
    if grant.reviewed_at is not None:
        raise conflict("This emergency access was already reviewed.", "already_reviewed")
    grant.reviewed_by = who.user_id
    grant.reviewed_at = utcnow()
    grant.review_outcome = outcome
    grant.review_note = note
    session.add(grant)
    audit.record(session, actor=who, action="update", resource="emergency_review",
                 patient_id=grant.patient_id, resource_id=grant.id,
                 reason=because("review_flagged" if outcome == "flagged" else "review_confirmed"))
    await session.commit()
    return grant


# --- what the care team sees of a withdrawal --------------------------------------------


@dataclass(frozen=True)
class WithdrawnNotice:
    """A patient of the clinician's care teams who shut it out: the fact and the date only;
    `monitoring` says whether the clinician still receives the patient's alerts."""

    patient: Patient
    since: datetime
    monitoring: bool


async def withdrawn_notices(session: AsyncSession, who: Principal, *,
                            patient_id: str | None = None,
                            limit: int | None = None) -> list[WithdrawnNotice]:
    """For a clinician: the patients of its care teams whose consent in force shuts it out
    (each listed one audited as a read of the patient's name), by name; only `patient_id`'s
    when given, at most `limit`. One query (`scope.withdrawn`), whatever the population."""
    notices, _ = await withdrawn_page(session, who, patient_id=patient_id, limit=limit)
    return notices


async def withdrawn_page(session: AsyncSession, who: Principal, *,
                         patient_id: str | None = None,
                         limit: int | None = None) -> tuple[list[WithdrawnNotice], bool]:
    """`withdrawn_notices`, and whether more than `limit` patients withdrew (those past the
    limit are neither returned nor audited)."""
    if not who.is_clinician:
        return [], False
    since = scope.withdrawn_since(col(Patient.id), who)
    query = (select(Patient, since, scope.monitors(col(Patient.id), who))
             .where(scope.refused(col(Patient.id), who))
             .where(scope.withdrawn(col(Patient.id), who)).where(since.is_not(None))
             .order_by(col(Patient.family_name), col(Patient.given_name), col(Patient.id)))
    if patient_id is not None:
        query = query.where(col(Patient.id) == patient_id)
    if limit is not None:
        query = query.limit(limit + 1)
    notices = [WithdrawnNotice(patient, at, bool(monitoring))
               for patient, at, monitoring in (await session.exec(query)).all()]
    more = limit is not None and len(notices) > limit
    notices = notices[:limit] if limit is not None else notices
    await audit.record_reads(session, actor=who, resource="patient",
                             reads=[(n.patient.id, n.patient.id) for n in notices],
                             reason=because("consent_withdrawn_notice"))
    await session.commit()
    return notices, more
