"""Delegates: a caregiver or a minor's parent given access to a patient's portal.

The patient makes their delegations. An administrator may make one only on the patient's
written request, whose reference it records (`request_note`); the delegation is audited with
that reference and shown to the patient as a notice on their privacy page.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import ColumnElement
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.bus.events import AccessChanged
from telemed.db.events import record_event
from telemed.db.models import Delegation, Patient, User
from telemed.db.types import utcnow
from telemed.domain import delegation as rules
from telemed.domain.audit_reasons import because
from telemed.errors import N_, conflict, forbidden, invalid, not_found
from telemed.principal import Principal
from telemed.services import audit

RELATIONSHIPS = ("caregiver", "parent", "guardian")
MAX_NOTE_LENGTH = 1000


def in_force(today: date | None = None) -> ColumnElement[bool]:
    """SQL condition: the delegation is neither revoked nor past its end
    (`telemed.domain.delegation.in_force`)."""
    today = today or utcnow().date()
    return col(Delegation.revoked_at).is_(None) & or_(
        col(Delegation.valid_until).is_(None), col(Delegation.valid_until) > today)


async def delegated_patient_ids(session: AsyncSession, user_id: str, *,
                                acting: bool = False, today: date | None = None) -> list[str]:
    """Patients whose portal this user may read as a delegate (`acting`: act in)."""
    query = select(Delegation.patient_id).where(Delegation.delegate_id == user_id) \
        .where(in_force(today))
    if acting:
        query = query.where(Delegation.scope == "act")
    return list((await session.exec(query)).all())


async def delegation_of(session: AsyncSession, patient_id: str, user_id: str,
                        today: date | None = None) -> Delegation | None:
    """The user's delegation in force for the patient, if any."""
    return (await session.exec(
        select(Delegation).where(Delegation.patient_id == patient_id)
        .where(Delegation.delegate_id == user_id).where(in_force(today))
        .order_by(col(Delegation.scope))  # "act" before "read"
    )).first()


async def is_delegate(session: AsyncSession, patient_id: str, user_id: str) -> bool:
    """True when the user holds a delegation in force for the patient."""
    return await delegation_of(session, patient_id, user_id) is not None


async def acting_for(session: AsyncSession, user_id: str,
                     today: date | None = None) -> list[tuple[Delegation, Patient]]:
    """The delegations in force with scope ``act`` the user holds, with their patients."""
    rows = (await session.exec(
        select(Delegation, Patient).join(Patient, col(Patient.id) == col(Delegation.patient_id))
        .where(Delegation.delegate_id == user_id).where(Delegation.scope == "act")
        .where(in_force(today)).order_by(col(Patient.given_name))
    )).all()
    return [(d, p) for d, p in rows]


async def may_act(session: AsyncSession, patient_id: str, user_id: str) -> bool:
    """Whether a delegate may act for the patient (enter readings, answer questionnaires,
    book and join visits): a delegation in force with scope ``act`` (docs/patients.md)."""
    held = await delegation_of(session, patient_id, user_id)
    return held is not None and held.scope == "act"


def may_manage_record(who: Principal, patient_id: str) -> bool:
    """The patient themself, or an administrator acting on their written request."""
    return who.role == "admin" or (who.role == "patient" and who.patient_id == patient_id)


async def list_delegations(session: AsyncSession, who: Principal,
                           patient_id: str) -> list[tuple[Delegation, User]]:
    """The patient's delegations (active and revoked), newest first."""
    if await session.get(Patient, patient_id) is None:
        raise not_found("Patient")
    if not may_manage_record(who, patient_id):
        raise forbidden("Only the patient (or an administrator) manages delegates.")
    result = await session.exec(
        select(Delegation, User)
        .join(User, col(User.id) == col(Delegation.delegate_id))
        .where(Delegation.patient_id == patient_id)
        .order_by(col(Delegation.granted_at).desc())
    )
    audit.record(session, actor=who, action="read", resource="delegation", patient_id=patient_id)
    await session.commit()
    return list(result.all())


async def grant(session: AsyncSession, who: Principal, patient_id: str, *,
                delegate_username: str, relationship: str, scope: str = "read",
                request_note: str | None = None, today: date | None = None) -> Delegation:
    """Give a portal user read access to the patient's portal (an administrator: only with
    the reference of the patient's written request in `request_note`)."""
    patient = await session.get(Patient, patient_id)
    if patient is None:
        raise not_found("Patient")
    if not may_manage_record(who, patient_id):
        raise await audit.refused(
            session, forbidden("Only the patient (or an administrator) manages delegates."),
            actor=who, action="create", resource="delegation", patient_id=patient_id)
    errors: dict[str, str] = {}
    if relationship not in RELATIONSHIPS:
        errors["relationship"] = N_("Relationship must be caregiver, parent or guardian.")
    if scope not in rules.SCOPES:
        errors["scope"] = N_("Scope must be read or act.")
    delegate = (await session.exec(
        select(User).where(User.username == delegate_username.strip().lower()))).first()
    if delegate is None or delegate.role != "patient" or not delegate.active:
        errors["delegate_username"] = N_("No patient-portal user with this username.")
    elif delegate.patient_id == patient_id:
        errors["delegate_username"] = N_(
            "A patient does not need a delegation to their own record.")
    request_note = " ".join(request_note.split()) if request_note else None
    if who.role == "admin" and not request_note:
        errors["request_note"] = N_("An administrator gives access only on the patient's "
                                    "written request: record its reference.")
    elif request_note is not None and len(request_note) > MAX_NOTE_LENGTH:
        errors["request_note"] = N_("At most 1000 characters.")
    if errors:
        raise invalid(errors)
    assert delegate is not None
    if await is_delegate(session, patient_id, delegate.id):
        raise conflict("This person is already a delegate.", "already_delegate")
    delegation = Delegation(patient_id=patient_id, delegate_id=delegate.id,
                            relationship=relationship, granted_by=who.user_id, scope=scope,
                            valid_until=rules.ends_on(relationship, patient.birth_date,
                                                      today or utcnow().date()),
                            request_note=request_note if who.role == "admin" else None)
    session.add(delegation)
    reason = (because("delegation_requested", relationship=relationship, scope=scope,
                      delegate=delegate.display_name, note=request_note)
              if who.role == "admin"
              else because("delegation_granted", relationship=relationship, scope=scope,
                           delegate=delegate.display_name))
    audit.record(session, actor=who, action="create", resource="delegation",
                 patient_id=patient_id, resource_id=delegation.id, reason=reason)
    record_event(session, AccessChanged(patient_id))
    await session.commit()
    return delegation


async def revoke(session: AsyncSession, who: Principal, patient_id: str,
                 delegation_id: str) -> Delegation:
    """End a delegation at once."""
    delegation = await session.get(Delegation, delegation_id)
    if delegation is None or delegation.patient_id != patient_id:
        raise not_found("Delegation")
    if not may_manage_record(who, patient_id):
        raise forbidden("Only the patient (or an administrator) manages delegates.")
    if delegation.revoked_at is not None:
        raise conflict("This delegation was already revoked.", "already_revoked")
    delegation.revoked_at = utcnow()
    delegation.revoked_by = who.user_id
    session.add(delegation)
    audit.record(session, actor=who, action="delete", resource="delegation",
                 patient_id=patient_id, resource_id=delegation.id)
    record_event(session, AccessChanged(patient_id))
    await session.commit()
    return delegation
