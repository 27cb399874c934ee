"""A region on a test app's database, for the plan tests on PostgreSQL: `REGION` patients on
a doctor's care team with their consent, some more on a colleague's only, each with the
rows a test asks for; then fresh planner statistics."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from aiohttp import web
from sqlalchemy import insert
from sqlmodel import select

from telemed import keys
from telemed.db.models import CareTeamMember, Consent, Patient
from telemed.db.types import utcnow

REGION = 3_000  # patients on the doctor's care team

Rows = dict[Any, list[dict[str, Any]]]  # model → rows to insert, in the order of the dict
Records = Callable[[str, int, str], Rows]  # (patient id, its number, its clinician) → rows


async def seed_region(app: web.Application, doctor_id: str, colleague_id: str,
                      records: Records, *, every: int = 5, size: int = REGION) -> None:
    """`size` (`REGION`) patients on the doctor's care team, and one in `every` more on the
    colleague's only (one in five: a quarter of the doctor's count), each with a granted
    consent and the `records` of it; then fresh planner statistics."""
    now = utcnow()
    rows: Rows = {Patient: [], CareTeamMember: [], Consent: []}
    for n in range(size + size // (every - 1)):
        patient = Patient(fiscal_code=f"RGNPTN{n:010d}", given_name="Anna",
                          family_name=f"Region{n}", birth_date=date(1950, 1, 1), sex="F")
        owner = colleague_id if n % every == every - 1 else doctor_id
        rows[Patient].append(patient.model_dump())
        rows[CareTeamMember].append({"patient_id": patient.id, "user_id": owner,
                                     "responsible": True, "added_at": now})
        rows[Consent].append(Consent(patient_id=patient.id, granted=True,
                                     recorded_by=owner).model_dump())
        for model, made in records(patient.id, n, owner).items():
            rows.setdefault(model, []).extend(made)
    async with app[keys.ENGINE].begin() as conn:
        for model, made in rows.items():
            await conn.execute(insert(model), made)
    await analyze(app)


async def analyze(app: web.Application) -> None:
    """Fresh planner statistics (PostgreSQL) after a bulk load."""
    async with app[keys.ENGINE].connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql("ANALYZE")


async def team_of(app: web.Application, user_id: str) -> set[str]:
    """The patients on `user_id`'s care team."""
    async with app[keys.SESSIONS]() as session:
        found = await session.exec(select(CareTeamMember.patient_id)
                                   .where(CareTeamMember.user_id == user_id))
        return set(found.all())
