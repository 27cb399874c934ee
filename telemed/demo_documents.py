"""The demo region's documents (docs/documents.md): a care plan that ended today with its
final report drafted by the platform, and a televisit held yesterday whose referto is still
to be written.

Rosa Marino's 30-day COPD follow-up plan ran from a month ago: she took her oximeter readings
at home (entered in the app: most of them, not all), answered the COPD diary and the PHQ-9,
and three alerts were raised and handled by the nurse and the doctor. All of it is recorded
through the services, at the times it happened; then the family doctor completes the plan,
which drafts the final report (``monitoring_final_report``) from the data for him to review
and sign. Idempotent: a plan already completed is left alone.
"""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import CarePlan, Document, Patient, User, Visit, VisitParticipant
from telemed.db.types import utcnow
from telemed.domain import alert_detail
from telemed.principal import Principal
from telemed.services import alerts, careplans, questionnaires
from telemed.services.alerts import Condition
from telemed.services.manual_readings import manual_source
from telemed.services.observations import NewReading, insert_readings
from telemed.services.rules import threshold_key

PLAN_DAYS = 30
READING_TIMES = (time(9), time(18))
SKIPPED = 0.12  # the share of measurements she did not take
# (day, local time, metric, value, zone): the readings that alerted, and how they were handled
OUT_OF_RANGE = ((4, time(9), "spo2", 87.0, "warning_low"),
                (4, time(18), "resp_rate", 24.0, "warning_high"))
ACK_NOTE = ("Chiamata la paziente: più affanno da due giorni, espettorato giallo. Avviato il "
            "piano d'azione (cortisonico e antibiotico orale).")
RESOLVE_NOTE = ("Rivista in televisita: migliorata, saturazione di nuovo nel target. "
                "Proseguire la terapia fino al termine.")
DIARY_NOTE = "Riacutizzazione di tipo 2 già in trattamento (vedi allarme della saturazione)."
# The PHQ-9 every two weeks: 11 (moderate), 8 (mild), 4 (minimal).
PHQ9_DAYS = ((1, (2, 2, 1, 2, 1, 1, 1, 1, 0)), (14, (1, 1, 1, 2, 1, 1, 0, 1, 0)),
             (27, (1, 0, 1, 1, 0, 1, 0, 0, 0)))


DOCTOR, NURSE = "dr.bianchi", "nurse.ferrari"
People = dict[str, Principal]  # by username: the doctor, the nurse and the patient


async def _people(session: AsyncSession, patient_user: str) -> People | None:
    users = (await session.exec(select(User).where(
        col(User.username).in_((DOCTOR, NURSE, patient_user))))).all()
    people = {u.username: Principal(u.id, u.username, u.role,  # type: ignore[arg-type]
                                    u.display_name, u.patient_id, via="session")
              for u in users}
    return people if len(people) == 3 else None


def _diary(day: int) -> dict[str, int]:
    """The COPD diary of day ``day``: an exacerbation (two cardinal symptoms, a cough) on days
    3-8, treated, then as usual."""
    worse = 3 <= day <= 8
    return {"dyspnoea": int(worse), "sputum_volume": int(worse),
            "sputum_purulence": int(3 <= day <= 5), "cold": int(day == 2), "fever": 0,
            "wheeze": int(worse and day <= 6), "cough": int(day <= 10)}


async def _readings(session: AsyncSession, patient: Patient, entered_by: str,
                    start: datetime) -> None:
    """Two oximeter readings a day, as she entered them (a few missed)."""
    zone = ZoneInfo(patient.timezone)
    device = await manual_source(session, patient.id)
    rng = random.Random(2026)
    planted = {(d, t, m): v for d, t, m, v, _ in OUT_OF_RANGE}
    rows = []
    first_day = start.astimezone(zone).date() + timedelta(days=1)
    for day in range(PLAN_DAYS - 1):
        for at in READING_TIMES:
            when = datetime.combine(first_day + timedelta(days=day), at, zone)
            if when >= utcnow() or (rng.random() < SKIPPED
                                    and (day, at, "spo2") not in planted):
                continue
            slump = 1.5 if 3 <= day <= 7 else 0.0  # the exacerbation
            values = {"spo2": float(round(rng.gauss(91.5 - slump, 0.8))),
                      "resp_rate": float(round(rng.gauss(17 + 2 * slump, 1.2)))}
            for metric, measured in values.items():
                value = planted.get((day, at, metric), measured)
                rows.append(NewReading(patient.id, device, metric, value,
                                       "%" if metric == "spo2" else "/min", when,
                                       when + timedelta(minutes=2), False, entered_by))
    await insert_readings(session, rows)
    await session.commit()


async def _handled_alerts(session: AsyncSession, people: People, patient: Patient,
                          plan: CarePlan, start: datetime) -> None:
    """The readings that alerted: opened when entered, acknowledged by the nurse, resolved by
    the doctor after the televisit."""
    zone = ZoneInfo(patient.timezone)
    first_day = start.astimezone(zone).date() + timedelta(days=1)
    for day, at, metric, value, zone_name in OUT_OF_RANGE:
        when = datetime.combine(first_day + timedelta(days=day), at, zone)
        change = await alerts.raise_condition(session, Condition(
            patient_id=patient.id, rule_key=threshold_key(metric), kind="threshold",
            severity="warning", metric=metric, value=value,
            detail=alert_detail.threshold(metric, value, zone_name, when),
            careplan_id=plan.plan_id, careplan_version=plan.version, received_at=when),
            patient, now=when)
        await session.commit()
        if change is None:
            continue
        alert_id = str(change.alert["id"])
        await alerts.acknowledge(session, people[NURSE], alert_id, ACK_NOTE,
                                 now=when + timedelta(minutes=14))
        await alerts.resolve(session, people[DOCTOR], alert_id, RESOLVE_NOTE,
                             now=when + timedelta(days=2, hours=3))


async def _answers(session: AsyncSession, people: People, patient: Patient,
                   start: datetime) -> None:
    """The daily COPD diary (a few days skipped) and the PHQ-9 every two weeks; the diary's
    exacerbation alerts, and the doctor resolves that alert once treated."""
    zone = ZoneInfo(patient.timezone)
    first_day = start.astimezone(zone).date() + timedelta(days=1)
    who = next(p for p in people.values() if p.role == "patient")
    await questionnaires.authorize_answer(session, who, patient.id)
    rng = random.Random(13)
    diary_alert: str | None = None
    for day in range(PLAN_DAYS - 1):
        when = datetime.combine(first_day + timedelta(days=day), time(20, 30), zone)
        if when >= utcnow():
            break
        if day < 3 or day > 8 or rng.random() > 0.2:
            _, changes = await questionnaires.record(session, who, patient, "copd_diary",
                                                     _diary(day), at=when)
            diary_alert = diary_alert or next(
                (str(c.alert["id"]) for c in changes if c.change == "opened"), None)
        for phq_day, items in PHQ9_DAYS:
            if phq_day == day:
                answers = {f"phq9-{n}": v for n, v in enumerate(items, start=1)}
                await questionnaires.record(session, who, patient, "phq9", answers,
                                            at=when + timedelta(minutes=5))
        if diary_alert and day == 9:
            await alerts.resolve(session, people[DOCTOR], diary_alert, DIARY_NOTE,
                                 now=when + timedelta(hours=14))


async def seed_completed_plan(session: AsyncSession, family: str, username: str) -> str | None:
    """Record the month of the patient's plan and complete it (its final report is drafted);
    returns the report's id, None when there is nothing to do."""
    people = await _people(session, username)
    patient = (await session.exec(select(Patient).where(Patient.family_name == family))).first()
    if people is None or patient is None:
        return None
    plan = (await session.exec(select(CarePlan).where(
        CarePlan.patient_id == patient.id, col(CarePlan.is_current),
        CarePlan.status == "active"))).first()
    if plan is None or plan.activated_at is None:
        return None  # completed already (or never seeded)
    start = plan.activated_at
    entered_by = next(p.user_id for p in people.values() if p.role == "patient")
    await _readings(session, patient, entered_by, start)
    await _answers(session, people, patient, start)
    await _handled_alerts(session, people, patient, plan, start)
    await careplans.complete_careplan(session, people[DOCTOR], plan.plan_id)
    report = (await session.exec(select(Document.id).where(
        Document.careplan_id == plan.plan_id,
        Document.kind == "monitoring_final_report"))).first()
    return report


async def seed_held_visit(session: AsyncSession, family: str) -> None:
    """A televisit the family doctor held yesterday with the patient: its referto is still to
    write (once: a held visit of theirs is left as it is)."""
    doctor = (await session.exec(select(User).where(User.username == "dr.bianchi"))).first()
    patient = (await session.exec(select(Patient).where(Patient.family_name == family))).first()
    if doctor is None or patient is None:
        return
    held = (await session.exec(select(Visit.id).where(
        Visit.patient_id == patient.id, Visit.status == "completed"))).first()
    if held is not None:
        return
    start = (utcnow() - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    visit = Visit(kind="televisit", patient_id=patient.id, scheduled_start=start,
                  duration_minutes=20, status="completed", started_at=start,
                  ended_at=start + timedelta(minutes=18), created_by=doctor.id)
    session.add(visit)
    await session.flush()
    session.add(VisitParticipant(visit_id=visit.id, user_id=doctor.id,
                                 scheduled_start=visit.scheduled_start))
    await session.commit()
