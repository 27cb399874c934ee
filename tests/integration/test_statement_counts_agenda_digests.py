"""The clinician's agenda and the daily digest pass cost what they show or make, not the
population (issue #16; `bench/population.py --only visits,digest` times them at a region's
size).

SQL statements are counted on the app's engine (`before_cursor_execute`):
- ``GET /visits`` of a doctor with 2 visits today, then with 12: the same count (the
  participants' reads are audited in one statement, not one per visit);
- a digest pass (`digests.make_due`) when nothing is due, with held notifications of 5
  people, then of 605 (more than one ``IN`` list of owners): the same count.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import func
from sqlmodel import col, select

from telemed import keys
from telemed.db.models import AuditEvent, Notification, User, Visit, VisitParticipant
from telemed.db.types import utcnow
from telemed.notify import digests
from tests.conftest import World
from tests.helpers.pages import logged_in
from tests.helpers.statements import counting

Client = TestClient[Any, Any]
ROME = ZoneInfo("Europe/Rome")


async def _visits_today(app: web.Application, doctor_id: str, patient_id: str,
                        count: int, first: int) -> None:
    settings = app[keys.SETTINGS]
    day = datetime.now(ZoneInfo(settings.timezone)).date()
    async with app[keys.SESSIONS]() as session:
        for i in range(first, first + count):
            start = datetime.combine(day, datetime.min.time(), ZoneInfo(settings.timezone)) \
                + timedelta(hours=7, minutes=30 * i)
            visit = Visit(kind="televisit", patient_id=patient_id,
                          scheduled_start=start.astimezone(UTC), duration_minutes=30,
                          created_by=doctor_id)
            session.add(visit)
            await session.flush()
            session.add(VisitParticipant(visit_id=visit.id, user_id=doctor_id))
        await session.commit()


async def _agenda(client: Client, app: web.Application, shown: int) -> int:
    with counting(app) as seen:
        resp = await client.get("/visits")
        page = await resp.text()
    assert resp.status == 200, page
    assert page.count("<th scope=\"row\">") == shown
    return len(seen)


async def test_the_agenda_costs_the_same_with_more_visits_today(client: Client,
                                                                world: World) -> None:
    doctor = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    await logged_in(client, doctor["username"])
    app = client.app

    await _visits_today(app, doctor["id"], patient.id, 2, 0)
    small = await _agenda(client, app, 2)
    await _visits_today(app, doctor["id"], patient.id, 10, 2)
    large = await _agenda(client, app, 12)
    assert large == small

    # Every visit shown is still audited as read by a participant, with its reason.
    async with app[keys.SESSIONS]() as session:
        audited = (await session.exec(
            select(func.count()).select_from(AuditEvent)
            .where(col(AuditEvent.actor_id) == doctor["id"])
            .where(col(AuditEvent.resource) == "visit")
            .where(col(AuditEvent.reason_code) == "visit_participant"))).one()
    assert audited == 2 + 12


async def _held(app: web.Application, people: range, held_at: datetime) -> None:
    """People who chose the digest for teleconsult news, with one held for each."""
    async with app[keys.SESSIONS]() as session:
        users = [User(username=f"digest{n:04d}", password_hash="x", role="doctor",
                      display_name=f"Digest {n}", email=f"d{n}@asl.example",
                      digest_kinds=["teleconsult_update"], digest_time="07:30")
                 for n in people]
        session.add_all(users)
        await session.flush()
        for n, user in zip(people, users, strict=True):
            session.add(Notification(
                user_id=user.id, kind="teleconsult_update", title_code="teleconsult_accepted",
                params={"initials": "M.R."}, link="/teleconsults/x", cause_type="teleconsult",
                cause_id=f"c{n}", created_at=held_at, dispatched_at=held_at, held_at=held_at))
        await session.commit()


async def test_a_digest_pass_with_nothing_due_costs_the_same_for_more_people(
        client: Client, world: World) -> None:
    app = client.app
    sessions, mail_from = app[keys.SESSIONS], "telemed@asl.example"
    today = utcnow().astimezone(ROME).date()
    held_at = datetime(today.year, today.month, today.day, 20, 0, tzinfo=ROME) - timedelta(days=2)
    early = held_at + timedelta(hours=10)  # 06:00 the next day: before 07:30
    due = held_at + timedelta(hours=12)

    await _held(app, range(5), held_at)
    with counting(app) as small:
        assert await digests.make_due(sessions, early, ROME, mail_from) == 0
    await _held(app, range(5, 605), held_at)
    with counting(app) as large:
        assert await digests.make_due(sessions, early, ROME, mail_from) == 0
    assert len(large) == len(small), large

    # At 07:30 every one of them is due, once.
    assert await digests.make_due(sessions, due, ROME, mail_from) == 605
    assert await digests.make_due(sessions, due, ROME, mail_from) == 0
