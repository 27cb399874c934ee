"""Questionnaires (CONTRACT §7): the plan's schedule, answering, scoring, alerting, reading.

A care plan lists questionnaires of the catalogue (`telemed.domain.questionnaires`) with
how often they are due (``every_days``) and, optionally, the score at which a response
alerts. A response is validated and scored by the domain, stored with who entered it, and
a response past the plan's threshold (or carrying a flag, such as PHQ-9 item 9) opens or
updates the alert ``questionnaire:<code>`` of kind ``questionnaire`` through the alert
machinery, in the same transaction; a later response under the threshold marks it
recovered. The caller publishes the returned changes on the bus after the commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import Patient, QuestionnaireResponse
from telemed.db.types import utcnow
from telemed.domain import alert_detail
from telemed.domain.audit_reasons import because
from telemed.domain.careplans import QuestionnairePlan
from telemed.domain.errors import DomainValidationError
from telemed.domain.questionnaires import CATALOGUE, Questionnaire, past_threshold, score
from telemed.errors import from_domain
from telemed.principal import Principal
from telemed.services import alerts
from telemed.services.access import authorize_patient
from telemed.services.alerts import AlertChange, Condition
from telemed.services.context import load_patient_context


def rule_key(code: str) -> str:
    return f"questionnaire:{code}"


@dataclass(frozen=True, slots=True)
class Planned:
    """A questionnaire of the patient's plan, and whether it is due today."""

    questionnaire: Questionnaire
    plan: QuestionnairePlan
    due: bool
    last: QuestionnaireResponse | None


def is_due(plan: QuestionnairePlan, last: datetime | None, timezone: str,
           now: datetime) -> bool:
    """Due when nothing was answered in the current period of ``every_days`` local days."""
    if last is None:
        return True
    zone = ZoneInfo(timezone)
    days = (now.astimezone(zone).date() - last.astimezone(zone).date()).days
    return days >= plan.every_days


async def _latest(session: AsyncSession, patient_id: str) -> dict[str, QuestionnaireResponse]:
    rows = (await session.exec(
        select(QuestionnaireResponse).where(QuestionnaireResponse.patient_id == patient_id)
        .where(col(QuestionnaireResponse.authored_at) >= utcnow() - timedelta(days=120))
        .order_by(col(QuestionnaireResponse.authored_at)))).all()
    return {row.questionnaire: row for row in rows}


async def planned(session: AsyncSession, who: Principal, patient_id: str, *,
                  now: datetime | None = None,
                  request_id: str | None = None) -> list[Planned]:
    """The questionnaires of the patient's active plan, with what is due (audited read)."""
    patient = await authorize_patient(session, who, patient_id, action="read",
                                      resource="questionnaire_response",
                                      reason=because("questionnaires_due"), request_id=request_id)
    context = await load_patient_context(session, patient_id)
    latest = await _latest(session, patient_id)
    await session.commit()
    if context is None or context.content is None:
        return []
    now = now or utcnow()
    out = []
    for entry in context.content.questionnaires:
        last = latest.get(entry.code)
        out.append(Planned(CATALOGUE[entry.code], entry,
                           is_due(entry, last.authored_at if last else None,
                                  patient.timezone, now), last))
    return out


async def submit(session: AsyncSession, who: Principal, patient_id: str, code: str,
                 answers: Mapping[str, object], *, request_id: str | None = None,
                 ) -> tuple[QuestionnaireResponse, list[AlertChange]]:
    """Score and store a response entered by ``who``; alert past the plan's threshold.

    422 for an unknown questionnaire or an incomplete or invalid answer set (nothing stored).
    The session is committed; publish the returned changes afterwards.
    """
    patient = await authorize_answer(session, who, patient_id, request_id=request_id)
    return await record(session, who, patient, code, answers)


async def authorize_answer(session: AsyncSession, who: Principal, patient_id: str, *,
                           request_id: str | None = None) -> Patient:
    """The patient, if ``who`` may answer for them (403 otherwise; audited)."""
    return await authorize_patient(session, who, patient_id, action="create",
                                   resource="questionnaire_response", request_id=request_id)


async def record(session: AsyncSession, who: Principal, patient: Patient, code: str,
                 answers: Mapping[str, object], *, at: datetime | None = None,
                 ) -> tuple[QuestionnaireResponse, list[AlertChange]]:
    """`submit` once access is checked (`authorize_answer` in the same session); ``at``
    only for recorded history (the demo's past), else now."""
    patient_id = patient.id
    try:
        scored = score(code, answers)
    except DomainValidationError as exc:
        raise from_domain(exc) from None
    now = at or utcnow()
    response = QuestionnaireResponse(
        patient_id=patient_id, questionnaire=code,
        answers={k: answers[k] for k in sorted(answers)}, score=scored.score,
        band=scored.band, flags=list(scored.flags), entered_by=who.user_id, authored_at=now)
    session.add(response)
    await session.flush()
    context = await load_patient_context(session, patient_id)
    content = context.content if context is not None else None
    plan = content.questionnaire(code) if content is not None else None
    changes: list[AlertChange] = []
    if plan is not None and context is not None:
        questionnaire = CATALOGUE[code]
        if past_threshold(scored, plan.alert_at):
            severity = "critical" if "item9" in scored.flags else plan.severity
            change = await alerts.raise_condition(session, Condition(
                patient_id=patient_id, rule_key=rule_key(code), kind="questionnaire",
                severity=severity, value=float(scored.score),
                detail=alert_detail.questionnaire(code, scored.score, questionnaire.max_score,
                                                  scored.band, scored.flags, now),
                careplan_id=context.plan_id, careplan_version=context.plan_version,
                received_at=now), patient, now=now)
        else:
            change = await alerts.mark_recovered(
                session, patient_id, rule_key(code),
                alert_detail.questionnaire_recovered(code, scored.score,
                                                     questionnaire.max_score, now),
                patient, now=now, received_at=now)
        if change is not None:
            changes.append(change)
    await session.commit()
    return response, changes


async def responses(session: AsyncSession, who: Principal, patient_id: str, *,
                    limit: int = 50, request_id: str | None = None,
                    ) -> list[QuestionnaireResponse]:
    """The patient's responses, newest first (audited read)."""
    await authorize_patient(session, who, patient_id, action="read",
                            resource="questionnaire_response", request_id=request_id)
    rows = (await session.exec(
        select(QuestionnaireResponse).where(QuestionnaireResponse.patient_id == patient_id)
        .order_by(col(QuestionnaireResponse.authored_at).desc()).limit(limit))).all()
    await session.commit()
    return list(rows)


async def by_id(session: AsyncSession, response_id: str) -> QuestionnaireResponse | None:
    """One response by id, unchecked: for the FHIR reader, which authorizes on its patient."""
    return await session.get(QuestionnaireResponse, response_id)
