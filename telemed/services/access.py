"""Who may see which patient: care-team membership, consent, own record, emergency access.

Every read or change of a patient's data by a person passes through `authorize_patient`,
which also writes the audit event. A clinician needs both a place on the patient's care team
and the patient's consent (`telemed.domain.consent`: the latest decision wins, a blanket
withdrawal revokes older personal grants). Otherwise:

- a time-limited emergency ("break-glass") access with a reason opens the record for
  reading and for handling its alerts only (`telemed.domain.emergency.allows`); it is
  flagged in the patient's log and never gives membership or any lasting right;
- a patient who withdrew consent stays in telemonitoring: their *alerts* (not the record)
  still reach the doctors who receive escalations (`monitoring_clinicians`), so no alert
  fires into the void. Nobody else on the care team sees them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import CareTeamMember, Consent, EmergencyAccess, Patient, User
from telemed.db.teleconsults import Teleconsult
from telemed.db.types import utcnow
from telemed.domain import delegation as delegation_rules
from telemed.domain import emergency as emergency_rules
from telemed.domain.audit_reasons import Reason, because
from telemed.domain.consent import Decision, may_consult
from telemed.domain.teleconsults import ACCESS_STATUSES
from telemed.errors import ApiError, forbidden, not_found
from telemed.notify.oncall import has_oncall_access
from telemed.principal import Principal
from telemed.services import audit, scope
from telemed.services.audit import Resource
from telemed.services.delegates import delegation_of

# Resources an administrator may see: demographics only, never clinical data.
ADMIN_RESOURCES = frozenset({"patient", "consent", "access_log"})
# What a consulted specialist may do with the record for the consult's duration: read it,
# and add what the consult needs (its visit, attachments, images); never lasting rights.
CONSULT_CREATES = frozenset({"visit", "teleconsult", "attachment", "study"})


async def in_care_team(session: AsyncSession, patient_id: str, user_id: str) -> bool:
    """True when the user is on the patient's care team."""
    return await session.get(CareTeamMember, (patient_id, user_id)) is not None


async def consent_decisions(session: AsyncSession, patient_id: str,
                            user_id: str | None = None) -> list[Decision]:
    """The patient's consent decisions (blanket ones and, with `user_id`, that user's)."""
    query = select(Consent.granted, Consent.grantee_id, Consent.recorded_at).where(
        Consent.patient_id == patient_id)
    if user_id is not None:
        query = query.where(or_(col(Consent.grantee_id).is_(None),
                                Consent.grantee_id == user_id))
    # Decisions of the same time in the order of `scope`'s SQL (by id): the list and the
    # record answer alike (`domain.consent`: of two at the same time, the later one listed wins)
    rows = (await session.exec(query.order_by(col(Consent.recorded_at),
                                              col(Consent.id)))).all()
    return [Decision(granted, grantee, at) for granted, grantee, at in rows]


async def has_consent(session: AsyncSession, patient_id: str, user_id: str) -> bool:
    """Whether the patient's decisions in force let this clinician consult the record."""
    return may_consult(await consent_decisions(session, patient_id, user_id), user_id)


async def _team(session: AsyncSession, patient_id: str) -> list[tuple[str, bool, str]]:
    """(user id, responsible, role) of the patient's active care-team members."""
    rows = (await session.exec(
        select(CareTeamMember.user_id, CareTeamMember.responsible, User.role)
        .join(User, col(User.id) == col(CareTeamMember.user_id))
        .where(CareTeamMember.patient_id == patient_id).where(col(User.active))
    )).all()
    return [(uid, bool(flag), str(role)) for uid, flag, role in rows]


def _responsible(team: list[tuple[str, bool, str]]) -> list[str]:
    responsible = [uid for uid, flag, role in team if flag and role == "doctor"]
    return sorted(responsible or [uid for uid, _, role in team if role == "doctor"])


async def responsible_doctors(session: AsyncSession, patient_id: str) -> list[str]:
    """The care team's doctors flagged responsible, else every doctor of the team."""
    return _responsible(await _team(session, patient_id))


async def monitoring_clinicians(session: AsyncSession, patient_id: str) -> list[str]:
    """Who receives the patient's alerts when the care team may not open the record: the
    responsible doctors (`responsible_doctors`), else the whole team (the people
    escalations reach), so that telemonitoring never raises alerts nobody can see."""
    team = await _team(session, patient_id)
    return _responsible(team) or sorted(uid for uid, _, _ in team)


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


async def active_consult(session: AsyncSession, patient_id: str, user_id: str
                         ) -> str | None:
    """The id of an accepted, unanswered teleconsult about the patient addressed to the
    user (the consult's access grant, `scope.consulting`), or None."""
    return (await session.exec(
        select(Teleconsult.id).where(Teleconsult.patient_id == patient_id)
        .where(Teleconsult.specialist_id == user_id)
        .where(col(Teleconsult.status).in_(ACCESS_STATUSES)).limit(1))).first()


def consult_allows(action: str, resource: str) -> bool:
    return action in ("read", "export") or (action == "create" and resource in CONSULT_CREATES)


async def authorize_patient(
    session: AsyncSession,
    who: Principal,
    patient_id: str,
    *,
    action: Literal["read", "create", "update", "delete", "export"],
    resource: Resource,
    resource_id: str | None = None,
    reason: Reason | None = None,
    request_id: str | None = None,
) -> Patient:
    """The patient if `who` may act on its `resource`; audits success and refusal alike."""
    patient = await session.get(Patient, patient_id)
    if patient is None:
        raise not_found("Patient")
    emergency = False
    allowed = False
    given = reason
    refusal = forbidden("You have no access to this patient's record.", key="no_access")
    if who.role == "patient":
        if who.patient_id == patient_id:
            allowed = delegation_rules.owner_allows(action, resource)
        else:
            held = await delegation_of(session, patient_id, who.user_id)
            allowed = held is not None and delegation_rules.allows(held.scope, action,
                                                                   resource)
    elif who.role == "admin":
        allowed = resource in ADMIN_RESOURCES
    elif who.is_clinician:
        member = await in_care_team(session, patient_id, who.user_id)
        allowed = member and await has_consent(session, patient_id, who.user_id)
        if member and not allowed:  # not a bare 403: the team learns why
            refusal = ApiError(403, "consent_withdrawn",
                               "The patient withdrew consent to the consultation of their "
                               "record.")
        if not allowed and member and resource == "alert" and action in ("read", "update") \
                and who.user_id in await monitoring_clinicians(session, patient_id):
            allowed = True
            reason = given or because("telemonitoring")
        if not allowed and not member and emergency_rules.allows(action, resource) \
                and await has_consent(session, patient_id, who.user_id) \
                and await has_oncall_access(session, patient_id, who.user_id):
            # An alert escalated to them during their on-call shift: like emergency access,
            # reading and handling alerts only, so nothing outlives the shift.
            allowed = True
            reason = given.within("oncall_access_for") if given else because("oncall_access")
        if not allowed and not member and consult_allows(action, resource) \
                and await has_consent(session, patient_id, who.user_id):
            consult = await active_consult(session, patient_id, who.user_id)
            if consult is not None:
                allowed = True
                reason = (given.within("teleconsult_access_for") if given
                          else because("teleconsult_access"))
        if not allowed:
            grant = await active_emergency_access(session, patient_id, who.user_id)
            if grant is not None:
                emergency = True
                allowed = emergency_rules.allows(action, resource)
                reason = given or because("emergency", grounds=grant.reason_code)
                if not allowed:
                    refusal = ApiError(
                        403, "emergency_access_read_only",
                        "Emergency access lets you read the record and handle its alerts, "
                        "not change it.")
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
        raise refusal
    return patient


async def visible_patient_ids(session: AsyncSession, who: Principal) -> list[str] | None:
    """Ids of patients `who` may list (None means every patient, for admins).

    A thin wrapper over `scope.visible` for the few callers that need the ids themselves;
    lists add the condition to their own query instead."""
    condition = scope.visible(col(Patient.id), who)
    if condition is None:
        return None
    return list((await session.exec(select(Patient.id).where(condition))).all())


async def alert_patient_ids(session: AsyncSession, who: Principal) -> list[str] | None:
    """Ids of patients whose alerts `who` receives (`scope.alerting`): those it may list,
    plus, for a clinician, the patients without record consent it monitors."""
    condition = scope.alerting(col(Patient.id), who)
    if condition is None:
        return None
    return list((await session.exec(select(Patient.id).where(condition))).all())


async def withdrawn_patients(session: AsyncSession, who: Principal) -> dict[str, datetime]:
    """For a clinician: the patients of its care teams whose decisions in force shut it out
    (`scope.withdrawn`), with the date of the decision that did (the fact, never the data)."""
    if not who.is_clinician:
        return {}
    since = scope.withdrawn_since(col(Patient.id), who)
    rows = (await session.exec(
        select(Patient.id, since).where(scope.withdrawn(col(Patient.id), who))
        .where(since.is_not(None)))).all()
    return {pid: at for pid, at in rows}
