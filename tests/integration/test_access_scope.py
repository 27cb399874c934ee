"""Access by set (`services.scope`) answers exactly as the per-patient checks of `access`.

A random region (care teams with and without responsible doctors, consent decisions in
every order and scope, delegations, revoked ones, teleconsults in every state) is built on
SQLite and on PostgreSQL; for every person the SQL conditions select the same patients as an
independent per-patient oracle (`domain.consent.may_consult` over each patient's decisions,
care-team membership, `monitoring_clinicians`, delegations, an open consult), and so do the
id wrappers `access` keeps.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.engine import make_engine, make_session_factory
from telemed.db.models import CareTeamMember, Consent, Delegation, Patient, User
from telemed.db.teleconsults import Teleconsult
from telemed.db.types import utcnow
from telemed.domain.consent import consent_state, may_consult
from telemed.domain.fiscal_code import build_fiscal_code
from telemed.principal import Principal
from telemed.services import access, scope
from telemed.services.delegates import is_delegate
from telemed.settings import Settings

PATIENTS = 60


def _person(user: User) -> Principal:
    return Principal(user_id=user.id, username=user.username, role=user.role,  # type: ignore[arg-type]
                     display_name=user.display_name, patient_id=user.patient_id, via="bearer")


async def _region(session: AsyncSession, seed: int) -> list[User]:
    """Patients, a few clinicians on random teams, random decisions and delegations."""
    rng = random.Random(seed)
    clinicians = [User(username=f"c{seed}_{i}", password_hash="-", role=role,
                       display_name=f"C{i}", active=i != 5)
                  for i, role in enumerate(["doctor", "doctor", "doctor", "nurse", "nurse",
                                            "doctor"])]
    session.add_all(clinicians)
    await session.flush()
    start = utcnow() - timedelta(days=30)
    people: list[User] = list(clinicians)
    for n in range(PATIENTS):
        birth = date(1940 + n % 50, 1 + n % 12, 1 + n % 28)
        given, family = f"Anna{chr(65 + n % 26)}", f"Verdi{chr(65 + n // 26)}"
        patient = Patient(fiscal_code=build_fiscal_code(given, family, birth, "F", "Roma"),
                          given_name=given, family_name=family, birth_date=birth, sex="F")
        session.add(patient)
        await session.flush()
        for user in rng.sample(clinicians, rng.randint(0, 4)):
            session.add(CareTeamMember(patient_id=patient.id, user_id=user.id,
                                       responsible=rng.random() < 0.3))
        at = start
        for _ in range(rng.randint(0, 4)):  # decisions in every order and scope
            # a third share the time of the one before: ties are decided as the domain does
            at += timedelta(minutes=rng.choice([0, rng.randint(1, 600), rng.randint(1, 600)]))
            grantee = rng.choice([None, None, *(u.id for u in clinicians[:4])])
            session.add(Consent(patient_id=patient.id, grantee_id=grantee,
                                granted=rng.random() < 0.6, recorded_by=clinicians[0].id,
                                recorded_at=at))
        if n % 3 == 0:  # a teleconsult: its specialist sees the record while it is open
            session.add(Teleconsult(
                patient_id=patient.id, requester_id=clinicians[0].id,
                specialist_id=rng.choice(clinicians).id, question="?", urgency="routine",
                mode="async", status=rng.choice(["requested", "accepted", "scheduled",
                                                 "answered", "declined"])))
        if n % 7 == 0:
            portal = User(username=f"p{seed}_{n}", password_hash="-", role="patient",
                          display_name="P", patient_id=patient.id)
            session.add(portal)
            await session.flush()
            people.append(portal)
        if n % 5 == 0:
            session.add(Delegation(patient_id=patient.id, delegate_id=people[-1].id
                                   if people[-1].role == "patient" else clinicians[0].id,
                                   relationship="caregiver", granted_by=clinicians[0].id,
                                   revoked_at=utcnow() if n % 10 == 0 else None))
    await session.commit()
    return people


async def _selected(session: AsyncSession, condition: object) -> set[str]:
    query = select(Patient.id)
    if condition is not None:
        query = query.where(condition)  # type: ignore[arg-type]
    return set((await session.exec(query)).all())


@dataclass(frozen=True)
class Expected:
    """What the per-patient rules answer for one person (None: every patient)."""

    visible: set[str] | None
    alerting: set[str] | None
    withdrawn: dict[str, datetime]


async def _oracle(session: AsyncSession, who: Principal, everyone: set[str]) -> Expected:
    """The per-patient rules, patient by patient: `domain.consent.may_consult` over each
    patient's decisions, `access.in_care_team`, `access.monitoring_clinicians`, delegations
    (an independent oracle: no SQL condition of `scope` is used)."""
    if who.role == "admin":
        return Expected(None, None, {})
    visible: set[str] = set()
    alerting: set[str] = set()
    withdrawn: dict[str, datetime] = {}
    for pid in sorted(everyone):
        if who.role == "patient":
            if pid == who.patient_id or await is_delegate(session, pid, who.user_id):
                visible.add(pid)
            continue
        member = await access.in_care_team(session, pid, who.user_id)
        consulted = await access.active_consult(session, pid, who.user_id) is not None
        if not member and not consulted:
            continue
        mine = await access.consent_decisions(session, pid, who.user_id)
        if may_consult(mine, who.user_id):
            visible.add(pid)
            continue
        if not member:
            continue
        if who.user_id in await access.monitoring_clinicians(session, pid):
            alerting.add(pid)
        if mine:
            state = consent_state(mine)
            withdrawn[pid] = state.withdrawn_at or max(d.recorded_at for d in mine)
    return Expected(visible, visible | alerting, withdrawn)


async def _check(url: str, seed: int) -> int:
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    compared = 0
    try:
        async with sessions() as session:
            people = await _region(session, seed)
        for user in people:
            if not user.active:  # holds no session: nothing to compare
                continue
            who = _person(user)
            async with sessions() as session:
                everyone = set((await session.exec(select(Patient.id))).all())
                expected = await _oracle(session, who, everyone)
                assert await _selected(session, scope.visible(col(Patient.id), who)) == (
                    everyone if expected.visible is None else expected.visible), user.username
                assert await _selected(session, scope.alerting(col(Patient.id), who)) == (
                    everyone if expected.alerting is None else expected.alerting), user.username
                # The wrappers `access` keeps for callers that need ids say the same.
                ids = await access.visible_patient_ids(session, who)
                assert (everyone if ids is None else set(ids)) == (
                    everyone if expected.visible is None else expected.visible)
                ids = await access.alert_patient_ids(session, who)
                assert (everyone if ids is None else set(ids)) == (
                    everyone if expected.alerting is None else expected.alerting)
                if who.is_clinician:
                    shut = await _selected(session, scope.withdrawn(col(Patient.id), who))
                    # Those shut out with a decision that concerns the clinician, dated;
                    # the others are shut out for lack of any decision (nothing to show).
                    dated = await access.withdrawn_patients(session, who)
                    assert dated == expected.withdrawn, user.username
                    assert set(dated) <= shut
                    undated = shut - set(dated)
                    has_decision = set((await session.exec(
                        select(Consent.patient_id).where(col(Consent.patient_id).in_(undated))
                        .where(or_(col(Consent.grantee_id).is_(None),
                                   col(Consent.grantee_id) == user.id))
                    )).all()) if undated else set()
                    assert not has_decision, user.username
                compared += 1
    finally:
        await engine.dispose()
    return compared


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_scope_matches_the_per_patient_rules_on_sqlite(settings: Settings,
                                                             seed: int) -> None:
    assert await _check(settings.database_url, seed) > 6


@pytest.mark.postgres
async def test_scope_matches_the_per_patient_rules_on_postgres(
        migrated_postgres_url: str) -> None:
    assert await _check(migrated_postgres_url, 4) > 6
