"""Access by set (`services.scope`) answers exactly as the per-patient checks of `access`.

A random region (care teams with and without responsible doctors, consent decisions in
every order and scope, delegations, revoked ones) is built on SQLite and on PostgreSQL; for
every person the SQL conditions select the same patients as `visible_patient_ids`,
`alert_patient_ids` and `withdrawn_patients`.
"""

from __future__ import annotations

import asyncio
import random
from datetime import date, timedelta

import pytest
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db import migrate
from telemed.db.engine import make_engine, make_session_factory
from telemed.db.models import CareTeamMember, Consent, Delegation, Patient, User
from telemed.db.types import utcnow
from telemed.domain.fiscal_code import build_fiscal_code
from telemed.principal import Principal
from telemed.services import access, scope
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
            at += timedelta(minutes=rng.randint(1, 600))
            grantee = rng.choice([None, None, *(u.id for u in clinicians[:4])])
            session.add(Consent(patient_id=patient.id, grantee_id=grantee,
                                granted=rng.random() < 0.6, recorded_by=clinicians[0].id,
                                recorded_at=at))
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
                expected = await access.visible_patient_ids(session, who)
                assert await _selected(session, scope.visible(col(Patient.id), who)) == (
                    everyone if expected is None else set(expected)), user.username
                alerts = await access.alert_patient_ids(session, who)
                assert await _selected(session, scope.alerting(col(Patient.id), who)) == (
                    everyone if alerts is None else set(alerts)), user.username
                if who.is_clinician:
                    shut = await _selected(session, scope.withdrawn(col(Patient.id), who))
                    # `withdrawn_patients` names those with a date to show: those with a
                    # decision that concerns the clinician.
                    dated = set(await access.withdrawn_patients(session, who))
                    assert dated <= shut
                    undated = shut - dated
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
async def test_scope_matches_the_per_patient_rules_on_postgres(postgres_url: str) -> None:
    await asyncio.to_thread(migrate.upgrade, postgres_url)
    assert await _check(postgres_url, 4) > 6
