"""What the alert board needs beside the alert list, for the rows on the page only.

Each function costs a fixed number of queries, whatever the population and however many
rows the page shows: the access rules are conditions on a patient column
(`telemed.services.scope`), the page's patients travel as one short ``IN`` list (at most a
board page), and nothing is read per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import false, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import Alert, CarePlan, Consent, Patient
from telemed.domain.audit_reasons import because
from telemed.domain.careplans import CarePlanContent
from telemed.domain.consent import Decision, consent_state
from telemed.principal import Principal
from telemed.services import scope
from telemed.services.alerts import alerting
from telemed.services.audit import record_reads
from telemed.services.consent import WithdrawnNotice
from telemed.services.context import SharedContents


async def last_seq(session: AsyncSession) -> int:
    """The sequence number of the newest alert change (0 before any): a stream that resumes
    after it misses nothing committed later."""
    return (await session.exec(select(func.max(Alert.seq)))).one() or 0


async def plan_contents(session: AsyncSession, patient_ids: Sequence[str]
                        ) -> dict[str, CarePlanContent | None]:
    """patient id → the content of its active care plan (absent: platform defaults), in one
    query served by ``ix_careplans_patient_current``; each distinct content is parsed once
    (a board's 200 patients mostly share a few templates' contents)."""
    wanted = sorted(set(patient_ids))
    if not wanted:
        return {}
    plans = await session.exec(
        select(CarePlan).where(col(CarePlan.patient_id).in_(wanted))
        .where(CarePlan.status == "active").where(col(CarePlan.is_current)))
    parsed = SharedContents()
    return {plan.patient_id: parsed.of(plan) for plan in plans.all()}


def _since(decisions: list[Decision]) -> datetime | None:
    state = consent_state(decisions)
    return state.withdrawn_at or (decisions[-1].recorded_at if decisions else None)


async def _decisions(session: AsyncSession, patient_ids: Sequence[str],
                     user_id: str) -> dict[str, list[Decision]]:
    rows = await session.exec(
        select(Consent.patient_id, Consent.granted, Consent.grantee_id, Consent.recorded_at)
        .where(col(Consent.patient_id).in_(sorted(set(patient_ids))))
        .where((col(Consent.grantee_id).is_(None)) | (col(Consent.grantee_id) == user_id))
        .order_by(col(Consent.recorded_at)))
    found: dict[str, list[Decision]] = {}
    for pid, granted, grantee, at in rows.all():
        found.setdefault(pid, []).append(Decision(granted, grantee, at))
    return found


async def withdrawn_since(session: AsyncSession, who: Principal,
                          patient_ids: Sequence[str]) -> dict[str, datetime]:
    """Of these patients (a page's), those whose consent in force shuts ``who`` out, with the
    date to show (`services.access.withdrawn_patients`, for a page and not the population)."""
    if not patient_ids or not who.is_clinician:
        return {}
    shut = await session.exec(
        select(col(Patient.id)).where(col(Patient.id).in_(sorted(set(patient_ids))))
        .where(scope.withdrawn(col(Patient.id), who)))
    ids = list(shut.all())
    if not ids:
        return {}
    decisions = await _decisions(session, ids, who.user_id)
    out: dict[str, datetime] = {}
    for pid in ids:
        since = _since(decisions.get(pid, []))
        if since is not None:
            out[pid] = since
    return out


async def withdrawn_notices(session: AsyncSession, who: Principal) -> list[WithdrawnNotice]:
    """For a clinician: the patients of its care teams whose consent in force shuts it out
    (`services.consent.withdrawn_notices`, in three queries: the patients with whether
    ``who`` still receives their alerts, their decisions, the audit rows)."""
    if not who.is_clinician:
        return []
    # A record closed to someone with decisions on it has a refusal among them (blanket or
    # personal): the few refusals lead, not the whole care team.
    refused = (select(col(Consent.patient_id)).where(col(Consent.granted) == false())
               .where((col(Consent.grantee_id).is_(None))
                      | (col(Consent.grantee_id) == who.user_id)))
    rows = (await session.exec(
        select(Patient, scope.monitors(col(Patient.id), who))
        .where(col(Patient.id).in_(refused))
        .where(scope.withdrawn(col(Patient.id), who))
        .order_by(Patient.family_name, Patient.given_name, Patient.id))).all()
    if not rows:
        return []
    decisions = await _decisions(session, [p.id for p, _ in rows], who.user_id)
    notices = []
    for patient, monitoring in rows:
        since = _since(decisions.get(patient.id, []))
        if since is not None:
            notices.append(WithdrawnNotice(patient, since, bool(monitoring)))
    await record_reads(session, actor=who, resource="patient",
                       reads={(n.patient.id, n.patient.id) for n in notices},
                       reason=because("consent_withdrawn_notice"))
    await session.commit()
    return notices


async def rows_by_id(session: AsyncSession, who: Principal, alert_ids: Sequence[str]
                     ) -> list[tuple[Alert, Patient, bool]]:
    """The alerts of these ids whose patient's alerts ``who`` receives, with whether ``who``
    may also open the patient's record (then the row shows the latest vitals): one query by
    primary key, the access rules checked on those rows only."""
    if not alert_ids:
        return []
    consultable = scope.visible(col(Alert.patient_id), who)
    rows = await session.exec(
        select(Alert, Patient, consultable if consultable is not None else col(Alert.id) != "")
        .join(Patient, col(Patient.id) == col(Alert.patient_id))
        .where(col(Alert.id).in_(sorted(set(alert_ids))))
        .where(alerting(who))
        .order_by(col(Alert.severity), col(Alert.opened_at), col(Alert.id)))
    return [(a, p, bool(ok)) for a, p, ok in rows.all()]
