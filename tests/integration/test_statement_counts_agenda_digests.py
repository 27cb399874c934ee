"""The clinician's agenda and the daily digest pass cost what they show or make, not the
population (issue #16; `bench/population.py --only visits,digest` times them at a region's
size).

SQL statements are counted on the app's engine (`before_cursor_execute`):
- ``GET /visits`` of a doctor with 2 visits today, then with 12: the same count (the
  participants' reads are audited in one statement, not one per visit);
- a digest pass (`digests.make_due`) when nothing is due, with held notifications of 5
  people, then of 605 (more than one ``IN`` list of owners): the same count;
- a digest pass making 5 summaries, then one making 100: the same count (made in batches,
  not a few statements each), and the delivery pass sending their emails: one statement
  per email beyond a fixed few;
- a change of a person's digest time with 3 notifications held, then with 300 held over
  ten days: the same count (all of them dated again by one UPDATE), each due at the new
  time after it was held.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import func
from sqlmodel import col, select

from telemed import keys
from telemed.db.models import (
    AuditEvent,
    Notification,
    NotificationDigest,
    User,
    Visit,
    VisitParticipant,
)
from telemed.db.types import utcnow
from telemed.domain.digest import next_digest_at
from telemed.notify import digests
from telemed.notify.worker import Channels, DeliveryWorker
from telemed.services.users import update_me
from tests.conftest import World
from tests.helpers.pages import logged_in
from tests.helpers.statements import counting

pytestmark = pytest.mark.scale

Client = TestClient[Any, Any]
ROME = ZoneInfo("Europe/Rome")
MAIL_FROM = "telemed@asl.example"


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
            session.add(VisitParticipant(visit_id=visit.id, user_id=doctor_id,
                                         scheduled_start=visit.scheduled_start))
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
            held = Notification(
                user_id=user.id, kind="teleconsult_update", title_code="teleconsult_accepted",
                params={"initials": "M.R."}, link="/teleconsults/x", cause_type="teleconsult",
                cause_id=f"c{n}", created_at=held_at, dispatched_at=held_at)
            digests.hold(held, user, held_at, ROME)  # as the worker's fan-out holds it
            session.add(held)
        await session.commit()


def _evening(days_ago: int) -> datetime:
    """20:00 in Rome ``days_ago`` days ago: after every digest time of that day."""
    today = utcnow().astimezone(ROME).date()
    return datetime(today.year, today.month, today.day, 20, 0, tzinfo=ROME) \
        - timedelta(days=days_ago)


async def test_a_digest_pass_with_nothing_due_costs_the_same_for_more_people(
        client: Client, world: World) -> None:
    app = client.app
    sessions, mail_from = app[keys.SESSIONS], MAIL_FROM
    held_at = _evening(2)
    early = held_at + timedelta(hours=10)  # 06:00 the next day: before 07:30
    due = held_at + timedelta(hours=12)

    await _held(app, range(5), held_at)
    with counting(app) as small:
        assert await digests.make_due(sessions, early, mail_from) == 0
    await _held(app, range(5, 605), held_at)
    with counting(app) as large:
        assert await digests.make_due(sessions, early, mail_from) == 0
    assert len(large) == len(small), large

    # At 07:30 every one of them is due, once.
    assert await digests.make_due(sessions, due, mail_from) == 605
    assert await digests.make_due(sessions, due, mail_from) == 0


async def test_a_digest_pass_costs_the_same_making_5_summaries_or_100(
        client: Client, world: World) -> None:
    app, sessions = client.app, client.app[keys.SESSIONS]
    held_at = _evening(3)
    due = held_at + timedelta(hours=12)  # 07:30 the next day

    await _held(app, range(5), held_at)
    with counting(app) as small:
        assert await digests.make_due(sessions, due, MAIL_FROM) == 5
    await _held(app, range(5, 105), held_at)
    with counting(app) as large:
        assert await digests.make_due(sessions, due + timedelta(days=1), MAIL_FROM) == 100
    assert len(large) == len(small) <= 6, large

    # Each summary took its one notification and lists it; none is made twice.
    async with sessions() as session:
        made = (await session.exec(select(NotificationDigest))).all()
        left = (await session.exec(select(func.count()).select_from(Notification)
                                   .where(col(Notification.digest_id).is_(None)))).one()
    assert len(made) == 105 and len({m.user_id for m in made}) == 105 and left == 0
    assert {(m.items, m.status) for m in made} == {(1, "pending")}
    assert len({m.message_id for m in made}) == 105

    # Sending their emails (no mail server here: composed, then a retry recorded each):
    # one statement per email beyond the fixed few of a pass.
    worker = DeliveryWorker(sessions, None, Channels.from_settings(app[keys.SETTINGS]),
                            clock=lambda: due + timedelta(days=1, minutes=1))
    with counting(app) as sending:
        assert await worker.deliver() == 50
    assert len(sending) <= 50 + 5, sending


async def test_a_new_digest_time_dates_3_or_300_held_notifications_alike(
        client: Client, world: World) -> None:
    app, sessions = client.app, client.app[keys.SESSIONS]
    timezone = app[keys.SETTINGS].timezone

    async def change(user_id: str, at: str) -> int:
        with counting(app) as seen:
            async with sessions() as session:
                await update_me(session, user_id, changes={"digest_time": at},
                                timezone=timezone)
        return len(seen)

    async def held_for(n: int, count: int, span: timedelta) -> str:
        async with sessions() as session:
            user = User(username=f"redate{n}", password_hash="x", role="doctor",
                        display_name="Redate", email="r@asl.example",
                        digest_kinds=["teleconsult_update"])
            session.add(user)
            await session.flush()
            for i in range(count):
                at = _evening(12) + span * i / count
                held = Notification(
                    user_id=user.id, kind="teleconsult_update",
                    title_code="teleconsult_accepted", params={}, link="/teleconsults/x",
                    cause_type="teleconsult", cause_id=f"c{i}", created_at=at,
                    dispatched_at=at)
                digests.hold(held, user, at, ROME)
                session.add(held)
            await session.commit()
            return user.id

    few = await change(await held_for(0, 3, timedelta(hours=2)), "18:00")
    many_id = await held_for(1, 300, timedelta(days=10))
    assert await change(many_id, "18:00") == few
    async with sessions() as session:
        held = (await session.exec(select(Notification)
                                   .where(Notification.user_id == many_id))).all()
    assert {n.due_at for n in held} == {next_digest_at(n.held_at, time(18), ROME)
                                        for n in held if n.held_at}
    assert len({n.due_at for n in held}) >= 10
