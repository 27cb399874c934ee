"""The demo region: a small care team, eight patients with plausible care plans, a visit.

Seeding is idempotent: people and patients that already exist are left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.engine import make_engine, make_session_factory
from telemed.db.models import (
    Availability,
    CarePlan,
    CareTeamMember,
    Consent,
    Delegation,
    OnCallShift,
    Patient,
    User,
    Visit,
    VisitParticipant,
)
from telemed.db.types import new_id, utcnow
from telemed.domain import delegation as delegation_rules
from telemed.domain.careplans import parse_careplan_content
from telemed.domain.fiscal_code import build_fiscal_code
from telemed.domain.local_time import DEFAULT_ZONE
from telemed.security import hash_password
from telemed.services.users import update_me
from telemed.settings import Settings

DEMO_PASSWORD = "telemed-demo-2026"


@dataclass(frozen=True)
class DemoPerson:
    username: str
    role: str
    display_name: str


STAFF = (
    DemoPerson("admin", "admin", "Amministratore"),
    DemoPerson("dr.bianchi", "doctor", "Dott. Luca Bianchi (MMG)"),
    DemoPerson("dr.conti", "doctor", "Dott.ssa Giulia Conti (cardiologa)"),
    DemoPerson("nurse.ferrari", "nurse", "Inf. Sara Ferrari"),
)


def _entry(metric: str, times: list[str] | None, bands: dict[str, float],
           **extra: Any) -> dict[str, Any]:
    schedule: dict[str, Any] = (
        {"times": times, "tolerance_minutes": 90} if times else {"continuous": True}
    )
    return {"metric": metric, "schedule": schedule, "bands": bands, **extra}


HEART_FAILURE = {
    "title": "Scompenso cardiaco — telemonitoraggio domiciliare",
    "goals": ["Peso stabile (±1 kg) e nessun ricovero nei prossimi 6 mesi",
              "Pressione sistolica tra 100 e 130 mmHg"],
    "monitoring": [
        _entry("body_weight", ["08:00"], {}),
        _entry("bp_systolic", ["08:00", "20:00"],
               {"critical_low": 85, "warning_low": 95, "warning_high": 139, "critical_high": 179}),
        _entry("bp_diastolic", ["08:00", "20:00"],
               {"critical_low": 40, "warning_low": 50, "warning_high": 89, "critical_high": 109}),
        _entry("heart_rate", ["08:00", "20:00"],
               {"critical_low": 40, "warning_low": 50, "warning_high": 100, "critical_high": 130}),
    ],
    "trends": [{"metric": "body_weight", "delta": 2.0, "window_hours": 72,
                "severity": "warning"}],
    "news2": {"enabled": False, "spo2_scale": 1, "on_oxygen": False},
    "silence_hours": 26,
    "escalate_after_minutes": 15,
    # the daily symptom diary (alerts from 4 of 9 or a warning sign) and PHQ-9 every 14 days
    "questionnaires": [
        {"code": "hf_diary", "schedule": {"every_days": 1},
         "alert": {"score_at_least": 4, "severity": "warning"}},
        {"code": "phq9", "schedule": {"every_days": 14},
         "alert": {"score_at_least": 10, "severity": "warning"}},
    ],
}

COPD = {
    "title": "BPCO — saturimetria e frequenza respiratoria",
    "goals": ["SpO2 nel target 88–92 %", "Riconoscere presto le riacutizzazioni"],
    "monitoring": [
        _entry("spo2", ["09:00", "18:00"],
               {"critical_low": 85, "warning_low": 88}),
        _entry("resp_rate", ["09:00", "18:00"],
               {"critical_low": 8, "warning_low": 10, "warning_high": 22, "critical_high": 28}),
    ],
    "trends": [],
    "news2": {"enabled": True, "spo2_scale": 2, "on_oxygen": False},
    "silence_hours": 26,
    # the Anthonisen diary: two cardinal symptoms (a type 2 exacerbation) alert
    "questionnaires": [{"code": "copd_diary", "schedule": {"every_days": 1},
                        "alert": {"score_at_least": 2, "severity": "warning"}}],
}

# Thirty days after a COPD exacerbation: the oximeter twice a day, the diary, the PHQ-9 (a
# depression screen is part of the follow-up). It ends today in the demo, with its final report
# drafted for the family doctor to sign (`telemed.demo_documents`).
COPD_FOLLOW_UP = {
    **COPD,
    "title": "BPCO — 30 giorni dopo la riacutizzazione",
    "goals": ["SpO2 nel target 88–92 %", "Nessun nuovo ricovero dopo la dimissione"],
    "questionnaires": [{"code": "copd_diary", "schedule": {"every_days": 1},
                        "alert": {"score_at_least": 2, "severity": "warning"}},
                       {"code": "phq9", "schedule": {"every_days": 14},
                        "alert": {"score_at_least": 15, "severity": "warning"}}],
}
# The patient whose plan the demo completes (after PLAN_DAYS days), and their login.
COMPLETED_PLAN = "Marino"
COMPLETED_PLAN_DAYS = 30

DIABETES = {
    "title": "Diabete tipo 2 — glicemia capillare",
    "goals": ["Glicemia a digiuno 80–130 mg/dL", "Nessuna ipoglicemia grave"],
    "monitoring": [
        _entry("blood_glucose", ["07:30", "19:30"],
               {"critical_low": 54, "warning_low": 70, "warning_high": 180,
                "critical_high": 300}),
    ],
    "trends": [],
    "news2": {"enabled": False, "spo2_scale": 1, "on_oxygen": False},
    "questionnaires": [{"code": "hypo_diary", "schedule": {"every_days": 7},
                        "alert": {"score_at_least": 3, "severity": "warning"}}],
}

HYPERTENSION = {
    "title": "Ipertensione arteriosa — automisurazione",
    "goals": ["Pressione domiciliare sotto 135/85 mmHg"],
    "monitoring": [
        _entry("bp_systolic", ["08:00", "20:00"],
               {"warning_high": 139, "critical_high": 179}),
        _entry("bp_diastolic", ["08:00", "20:00"],
               {"warning_high": 89, "critical_high": 109}),
    ],
    "trends": [],
    "news2": {"enabled": False, "spo2_scale": 1, "on_oxygen": False},
}

POST_DISCHARGE = {
    "title": "Dimissione protetta — monitoraggio continuo",
    "goals": ["Rientro sicuro a domicilio nei primi 14 giorni"],
    "monitoring": [
        _entry("spo2", None, {"critical_low": 91, "warning_low": 94}),
        _entry("heart_rate", None,
               {"critical_low": 40, "warning_low": 50, "warning_high": 110, "critical_high": 130}),
        _entry("resp_rate", ["08:00", "14:00", "20:00"], {}),
        _entry("body_temp", ["08:00", "20:00"],
               {"critical_low": 35.0, "warning_low": 36.0, "warning_high": 38.0,
                "critical_high": 39.0}),
        _entry("bp_systolic", ["08:00", "20:00"], {}),
    ],
    "trends": [],
    "news2": {"enabled": True, "spo2_scale": 1, "on_oxygen": False},
    "silence_hours": 2,
    # Short, so the demo's critical alert (demo_devices.demo_emergency) reaches the on-call
    # doctor by email about three minutes after `make run`.
    "escalate_after_minutes": 1,
}


PEDIATRIC_ASTHMA = {
    "title": "Asma in età pediatrica — saturimetria a domicilio",
    "goals": ["Nessuna riacutizzazione che richieda il pronto soccorso"],
    "monitoring": [
        _entry("spo2", ["08:00", "20:00"], {"critical_low": 91, "warning_low": 94}),
        _entry("resp_rate", ["08:00", "20:00"], {"warning_high": 28, "critical_high": 35}),
    ],
    "trends": [],
    "news2": {"enabled": False, "spo2_scale": 1, "on_oxygen": False},
}


@dataclass(frozen=True)
class DemoPatient:
    given: str
    family: str
    birth: date
    sex: str
    birthplace: str
    plan: dict[str, Any]
    team: tuple[str, ...]
    phone: str | None = None
    username: str | None = None
    scenario: str = "stable"
    extra: dict[str, Any] = field(default_factory=dict)


PATIENTS = (
    DemoPatient("Giuseppe", "Esposito", date(1944, 3, 12), "M", "Napoli", HEART_FAILURE,
                ("dr.bianchi", "dr.conti", "nurse.ferrari"), "+393331234567",
                username="giuseppe.esposito", scenario="heart_failure_weight_gain"),
    DemoPatient("Maria", "Colombo", date(1950, 7, 2), "F", "Milano", HEART_FAILURE,
                ("dr.conti", "nurse.ferrari")),
    DemoPatient("Antonio", "Ricci", date(1947, 11, 23), "M", "Torino", COPD,
                ("dr.bianchi", "nurse.ferrari"), scenario="copd_falling_spo2"),
    DemoPatient("Rosa", "Marino", date(1956, 1, 30), "F", "Bari", COPD_FOLLOW_UP,
                ("dr.bianchi", "nurse.ferrari"), username="rosa.marino"),
    DemoPatient("Francesco", "Greco", date(1961, 5, 17), "M", "Palermo", DIABETES,
                ("dr.bianchi", "nurse.ferrari")),
    DemoPatient("Anna", "Bruno", date(1958, 9, 8), "F", "Bologna", HYPERTENSION,
                ("dr.bianchi",)),
    DemoPatient("Giovanni", "Gallo", date(1952, 4, 4), "M", "Firenze", HYPERTENSION,
                ("dr.bianchi", "dr.conti")),
    DemoPatient("Lucia", "Romano", date(1939, 12, 19), "F", "Roma", POST_DISCHARGE,
                ("dr.conti", "nurse.ferrari")),
    DemoPatient("Sofia", "Rinaldi", date(2015, 4, 21), "F", "Roma", PEDIATRIC_ASTHMA,
                ("dr.bianchi", "nurse.ferrari")),
)

# A minor's mother, who acts for her daughter (books, answers, enters readings, joins the
# televisit): a portal user with a record of her own, under no care plan.
PARENT = DemoPatient("Elena", "Rinaldi", date(1984, 2, 11), "F", "Roma", {}, (),
                     username="elena.rinaldi")
CHILD = "Rinaldi"

# Weekly hours for bookings (docs/booking.md): (weekday, start, end, minutes per visit).
HOURS = {
    "dr.bianchi": [(day, "09:00", "12:00", 20) for day in range(5)],
    "dr.conti": [(1, "14:00", "17:00", 30), (3, "14:00", "17:00", 30)],
}


async def _user(session: AsyncSession, username: str, role: str, display: str,
                patient_id: str | None = None) -> tuple[User, bool]:
    found = (await session.exec(select(User).where(User.username == username))).first()
    if found is not None:
        return found, False
    user = User(username=username, password_hash=hash_password(DEMO_PASSWORD), role=role,
                display_name=display, patient_id=patient_id)
    session.add(user)
    await session.flush()
    return user, True


async def seed_region(session: AsyncSession, timezone: str = DEFAULT_ZONE) -> dict[str, Any]:
    """Create the demo people, patients, active care plans and a visit soon (``timezone``:
    the service's, TELEMED_TIMEZONE)."""
    staff: dict[str, User] = {}
    created = 0
    for person in STAFF:
        staff[person.username], new = await _user(session, person.username, person.role,
                                                   person.display_name)
        created += new
    patients: dict[str, Patient] = {}
    for demo in PATIENTS:
        code = build_fiscal_code(demo.given, demo.family, demo.birth, demo.sex, demo.birthplace)
        patient = (await session.exec(select(Patient).where(Patient.fiscal_code == code))).first()
        if patient is None:
            patient = Patient(fiscal_code=code, given_name=demo.given, family_name=demo.family,
                              birth_date=demo.birth, sex=demo.sex, phone=demo.phone)
            session.add(patient)
            await session.flush()
            team = [staff[name].id for name in demo.team]
            session.add(Consent(patient_id=patient.id, granted=True, recorded_by=team[0],
                                note="Consent collected at enrolment"))
            for user_id in team:
                session.add(CareTeamMember(patient_id=patient.id, user_id=user_id,
                                           responsible=staff_role(staff, user_id) == "doctor"))
            plan = dict(demo.plan)
            title = plan.pop("title")
            content = parse_careplan_content({**plan, "care_team": team}).to_dict()
            session.add(CarePlan(
                plan_id=new_id(), version=1, patient_id=patient.id, status="active",
                title=title, period_start=date.today() - timedelta(days=30),
                content=content, created_by=team[0],
                activated_at=utcnow() - timedelta(
                    days=COMPLETED_PLAN_DAYS if demo.family == COMPLETED_PLAN else 0),
            ))
            created += 1
        patients[demo.family] = patient
        if demo.username:
            await _user(session, demo.username, "patient", f"{demo.given} {demo.family}",
                        patient.id)
    await seed_rota(session, staff)
    await seed_parent(session, staff, patients[CHILD])
    await seed_hours(session, staff)
    first = PATIENTS[0]
    patient = patients[first.family]
    has_visit = (await session.exec(
        select(Visit).where(Visit.patient_id == patient.id).where(Visit.status == "scheduled")
        .where(Visit.scheduled_start > utcnow() - timedelta(minutes=10))
    )).first()  # a demo visit that can still be joined; otherwise schedule a new one
    if has_visit is None:
        visit = Visit(kind="televisit", patient_id=patient.id,
                      scheduled_start=utcnow() + timedelta(minutes=5), duration_minutes=20,
                      created_by=staff["dr.bianchi"].id)
        session.add(visit)
        await session.flush()
        session.add(VisitParticipant(visit_id=visit.id, user_id=staff["dr.bianchi"].id,
                                     scheduled_start=visit.scheduled_start))
    await session.commit()
    await seed_digest(session, staff, timezone)
    return {"created": created, "patients": len(patients)}


# The cardiologist reads routine teleconsult news and reports to co-sign once a day, in the
# daily summary (docs/notifications.md, "Daily digest"); her settings page shows the choice.
DIGEST_CHOICE = ("dr.conti", {"teleconsult_update": "digest", "document_cosign": "digest"},
                 "07:30")


async def seed_digest(session: AsyncSession, staff: dict[str, User], timezone: str) -> None:
    """Give the demo's digest choice, as the person would make it (`update_me`; committed),
    to a user who never chose: a choice made since (even all right away) stays."""
    username, delivery, at = DIGEST_CHOICE
    if staff[username].digest_kinds is None:
        await update_me(session, staff[username].id,
                        changes={"notify_delivery": delivery, "digest_time": at},
                        timezone=timezone)


async def seed_parent(session: AsyncSession, staff: dict[str, User], child: Patient) -> None:
    """The mother of the demo minor, with a delegation that acts and ends at 18."""
    demo = PARENT
    code = build_fiscal_code(demo.given, demo.family, demo.birth, demo.sex, demo.birthplace)
    own = (await session.exec(select(Patient).where(Patient.fiscal_code == code))).first()
    if own is None:
        own = Patient(fiscal_code=code, given_name=demo.given, family_name=demo.family,
                      birth_date=demo.birth, sex=demo.sex)
        session.add(own)
        await session.flush()
    assert demo.username is not None
    user, _ = await _user(session, demo.username, "patient", f"{demo.given} {demo.family}",
                          own.id)
    held = (await session.exec(select(Delegation).where(Delegation.patient_id == child.id)
                               .where(Delegation.delegate_id == user.id))).first()
    if held is None:
        session.add(Delegation(
            patient_id=child.id, delegate_id=user.id, relationship="parent", scope="act",
            granted_by=staff["admin"].id, request_note="Modulo di delega del genitore (demo)",
            valid_until=delegation_rules.ends_on("parent", child.birth_date, date.today())))
        await session.flush()


async def seed_hours(session: AsyncSession, staff: dict[str, User]) -> None:
    """The doctors' weekly hours for bookings (once: a doctor with hours keeps them)."""
    for username, hours in HOURS.items():
        user = staff[username]
        if (await session.exec(select(Availability)
                               .where(Availability.clinician_id == user.id))).first():
            continue
        for weekday, start, end, minutes in hours:
            session.add(Availability(clinician_id=user.id, weekday=weekday, start=start,
                                     end=end, slot_minutes=minutes, kind="televisit"))
    await session.flush()


DEMO_MAIL_DOMAIN = "asl-demo.example"
# The post-discharge patient whose oximeter raises the demo's critical alert.
EMERGENCY_PATIENT = "Romano"
# The on-call rota of the demo week (local times): the family doctor by day, the cardiologist
# by night, so a critical alert nobody acknowledges reaches a person at any hour.
ROTA = (("dr.bianchi", time(8), 12), ("dr.conti", time(20), 12))
ROTA_DAYS = 7


async def seed_rota(session: AsyncSession, staff: dict[str, User],
                    tz: str = "Europe/Rome") -> int:
    """Give the staff demo email addresses and cover the coming week with on-call shifts
    (idempotent: a day whose shifts exist is left alone). Returns how many shifts it added."""
    for user in staff.values():
        if user.email is None:
            user.email = f"{user.username}@{DEMO_MAIL_DOMAIN}"
            session.add(user)
    zone = ZoneInfo(tz)
    today = datetime.now(zone).date() - timedelta(days=1)  # last night's shift covers now
    existing = {(s.user_id, s.starts_at) for s in (await session.exec(
        select(OnCallShift).where(OnCallShift.ends_at > utcnow()))).all()}
    added = 0
    for offset in range(ROTA_DAYS + 2):  # yesterday's night to a full week from now
        day = today + timedelta(days=offset)
        for username, start, hours in ROTA:
            user = staff[username]
            starts = datetime.combine(day, start, zone)
            ends = starts + timedelta(hours=hours)
            if ends <= datetime.now(zone) or (user.id, starts) in existing:
                continue
            session.add(OnCallShift(user_id=user.id, starts_at=starts, ends_at=ends,
                                    created_by=staff["admin"].id))
            added += 1
    await session.flush()
    return added


def staff_role(staff: dict[str, User], user_id: str) -> str:
    return next(user.role for user in staff.values() if user.id == user_id)


async def seed(settings: Settings) -> str:
    """Seed the demo region into the configured database; a summary for the console."""
    engine = make_engine(settings.effective_database_url)
    try:
        async with make_session_factory(engine)() as session:
            result = await seed_region(session, settings.timezone)
            from telemed.demo_documents import seed_completed_plan, seed_held_visit
            from telemed.demo_teleconsult import seed_teleconsult

            await seed_teleconsult(session, settings)
            await seed_completed_plan(session, COMPLETED_PLAN, "rosa.marino")
            await seed_held_visit(session, PATIENTS[0].family)
    finally:
        await engine.dispose()
    logins = (", ".join(p.username for p in STAFF)
              + ", giuseppe.esposito, rosa.marino, elena.rinaldi")
    return (
        f"Demo region ready ({result['patients']} patients).\n"
        f"Demo logins (password {DEMO_PASSWORD}): {logins}"
    )
