"""Access by set: which patients a person may see, as SQL conditions on a patient-id column.

The same rules as `telemed.services.access` (care team, consent in force after
`telemed.domain.consent`, own record, delegations, telemonitoring without consent), written
as conditions a list, a board or a stream adds to its one query, so that it costs what the
page shows and not what the population is. No id lists travel to the database: the
conditions are correlated subqueries served by primary keys and indexes.

`tests/integration/test_access_scope.py` holds these conditions to the per-patient checks.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    case,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import aliased
from sqlmodel import col

from telemed.db.models import CareTeamMember, Consent, Delegation, User
from telemed.db.teleconsults import Teleconsult
from telemed.domain.teleconsults import ACCESS_STATUSES
from telemed.principal import Principal
from telemed.services.delegates import in_force


def _latest(patient: Any, grantee: str | None, column: Any) -> Any:
    """The `column` of the patient's latest decision for `grantee` (None: blanket)."""
    who = (col(Consent.grantee_id).is_(None) if grantee is None
           else col(Consent.grantee_id) == grantee)
    return (
        select(column).where(col(Consent.patient_id) == patient).where(who)
        .order_by(col(Consent.recorded_at).desc(), col(Consent.id).desc())
        .limit(1).scalar_subquery()
    )


def _concerns(row: Any, patient: Any, user_id: str, *, blanket: bool = True) -> Any:
    """`row` is one of the patient's decisions about `user_id` (by name, or blanket)."""
    named = col(row.grantee_id) == user_id
    return and_(col(row.patient_id) == patient,
                or_(named, col(row.grantee_id).is_(None)) if blanket else named)


def _later(row: Any, than: Any) -> ColumnElement[bool]:
    """`row` was decided after `than`: by time, then a blanket decision after a personal
    one of the same time (a blanket withdrawal revokes the grants made up to it), then by
    id (the order of `_latest`)."""
    same_kind = (col(row.grantee_id).is_(None)) == (col(than.grantee_id).is_(None))
    return or_(col(row.recorded_at) > col(than.recorded_at),
               and_(col(row.recorded_at) == col(than.recorded_at),
                    or_(and_(col(row.grantee_id).is_(None),
                             col(than.grantee_id).is_not(None)),
                        and_(same_kind, col(row.id) > col(than.id)))))


def consultable(patient: Any, user_id: str) -> ColumnElement[bool]:
    """The patient's decisions in force let `user_id` consult the record
    (`telemed.domain.consent.may_consult`, as SQL; never NULL, so it can be negated).

    The same rule as: the latest decision concerning `user_id` (`_later`'s order) is a
    grant, and the latest personal one, if any, is not a refusal; written as ``EXISTS``
    of a grant no refusal followed and ``NOT EXISTS`` of a personal refusal no personal
    grant followed, so that PostgreSQL plans them as joins: by the patient's index for the
    rows a list tests, or one hash of a small table, never a scan of the table per row
    (what its scalar subqueries did on a small population: 3 x 200 consents per row at
    200 patients)."""
    grant, refusal, after = aliased(Consent), aliased(Consent), aliased(Consent)
    in_force = exists().where(
        _concerns(grant, patient, user_id), col(grant.granted) == true(),
        ~exists().where(_concerns(after, grant.patient_id, user_id),
                        col(after.granted) == false(), _later(after, grant)))
    shut_out = exists().where(
        _concerns(refusal, patient, user_id, blanket=False), col(refusal.granted) == false(),
        ~exists().where(_concerns(after, refusal.patient_id, user_id, blanket=False),
                        col(after.granted) == true(), _later(after, refusal)))
    return and_(in_force, ~shut_out)


def on_team(patient: Any, user_id: str) -> ColumnElement[bool]:
    """`user_id` sits on the patient's care team (primary-key lookup)."""
    return exists().where(col(CareTeamMember.patient_id) == patient,
                          col(CareTeamMember.user_id) == user_id)


def consulting(patient: Any, user_id: str) -> ColumnElement[bool]:
    """`user_id` is the specialist of an accepted, not yet answered teleconsult about the
    patient (`telemed.domain.teleconsults.grants_access`): the consult's access grant."""
    return exists().where(col(Teleconsult.patient_id) == patient,
                          col(Teleconsult.specialist_id) == user_id,
                          col(Teleconsult.status).in_(ACCESS_STATUSES))


def _team_doctor(patient: Any, *, responsible: bool) -> ColumnElement[bool]:
    query = (exists().where(col(CareTeamMember.patient_id) == patient)
             .where(col(CareTeamMember.user_id) == col(User.id))
             .where(col(User.role) == "doctor").where(col(User.active)))
    return query.where(col(CareTeamMember.responsible)) if responsible else query


def monitors(patient: Any, who: Principal) -> ColumnElement[bool]:
    """`who` receives the patient's alerts when the record is closed to the team
    (`telemed.services.access.monitoring_clinicians`): the responsible doctors, else the
    team's doctors, else the whole team."""
    if who.role == "doctor":
        mine = exists().where(col(CareTeamMember.patient_id) == patient,
                              col(CareTeamMember.user_id) == who.user_id,
                              col(CareTeamMember.responsible))
        return and_(on_team(patient, who.user_id),
                    or_(mine, not_(_team_doctor(patient, responsible=True))))
    if who.role == "nurse":
        return and_(on_team(patient, who.user_id),
                    not_(_team_doctor(patient, responsible=False)))
    return false()


def _portal_patients(who: Principal) -> Any:
    """A portal user's own record and those of its delegations in force, as one ``IN``
    list of a few ids: a list starts from them (the patient-id index) instead of testing
    every row of the population against an ``OR`` of the two."""
    delegated = select(col(Delegation.patient_id)).where(
        col(Delegation.delegate_id) == who.user_id, in_force())
    if not who.patient_id:
        return delegated
    return union_all(select(literal(who.patient_id, String)), delegated)


def visible(patient: Any, who: Principal) -> ColumnElement[bool] | None:
    """The patients `who` may list (`access.visible_patient_ids`); None: every patient
    (administrators list demographics)."""
    if who.role == "admin":
        return None
    if who.role == "patient":
        return patient.in_(_portal_patients(who))  # type: ignore[no-any-return]
    if who.is_clinician:
        return and_(or_(on_team(patient, who.user_id), consulting(patient, who.user_id)),
                    consultable(patient, who.user_id))
    return false()


def alerting(patient: Any, who: Principal) -> ColumnElement[bool] | None:
    """The patients whose alerts `who` receives (`access.alert_patient_ids`): those it may
    list, plus, for a clinician, those without record consent it monitors."""
    seen = visible(patient, who)
    if seen is None or not who.is_clinician:
        return seen
    return or_(seen, monitors(patient, who))


def withdrawn(patient: Any, who: Principal) -> ColumnElement[bool]:
    """For a clinician: the patient is on its team but the decisions in force shut it out
    (the fact shown on lists, never the data)."""
    if not who.is_clinician:
        return false()
    return and_(on_team(patient, who.user_id), not_(consultable(patient, who.user_id)))


def refused(patient: Any, who: Principal) -> ColumnElement[bool]:
    """The patient made a refusal that concerns `who` (blanket, or naming it): every patient
    `withdrawn` with a date (`withdrawn_since`) has one, and refusals are few, so lists of
    withdrawals start from them (`ix_consents_refusals`) instead of from the whole team."""
    return col(patient).in_(
        select(col(Consent.patient_id)).where(col(Consent.granted) == false())
        .where(or_(col(Consent.grantee_id).is_(None), col(Consent.grantee_id) == who.user_id)))


def withdrawn_since(patient: Any, who: Principal) -> Any:
    """When the patient shut `who` out (for `withdrawn` patients): the withdrawal of the
    blanket consent when that is in force, else the latest decision that concerns `who`;
    NULL when no decision concerns it."""
    blanket_at = _latest(patient, None, col(Consent.recorded_at))
    blanket = _latest(patient, None, col(Consent.granted))
    latest = (select(func.max(Consent.recorded_at))
              .where(col(Consent.patient_id) == patient)
              .where(or_(col(Consent.grantee_id).is_(None),
                         col(Consent.grantee_id) == who.user_id))
              .scalar_subquery())
    return case((blanket == false(), blanket_at), else_=latest)
