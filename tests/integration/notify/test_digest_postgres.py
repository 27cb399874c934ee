"""The daily digest on PostgreSQL: four workers that find the same summaries due at once make
and send each one once (the unique due instant, the conditional take, the leased email); a
notification held while its owner's change of choices is being written waits for it and is
dated by the new choice."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from telemed import keys
from telemed.db.models import NotificationDigest
from telemed.notify.worker import BATCH, Channels, DeliveryWorker
from telemed.settings import Settings
from tests.conftest import World
from tests.helpers.digest import digests_of, held_of, news, person, rome
from tests.integration.notify.clinic import postgres_mail_app
from tests.smtp_fixture import MailCatcher, body_of

pytestmark = pytest.mark.postgres


@pytest.fixture
async def app(settings: Settings, migrated_postgres_url: str,
              smtp_server: MailCatcher) -> web.Application:
    return postgres_mail_app(settings, migrated_postgres_url, smtp_server.url)


async def test_four_workers_send_each_summary_once(
        client: TestClient[Any, Any], world: World, app: web.Application,
        smtp_server: MailCatcher) -> None:
    people = [await person(client, world, "doctor", f"d{i}@asl.example",
                           notify_delivery={"teleconsult_request": "digest"})
              for i in range(5)]
    now = [rome(2, 9)]
    channels = Channels.from_settings(app[keys.SETTINGS])
    workers = [DeliveryWorker(app[keys.SESSIONS], None, channels) for _ in range(4)]
    for worker in workers:
        worker.clock = lambda: now[0]
    for who in people:
        for cause in ("c1", "c2", "c3"):
            await news(world, who["id"], "teleconsult_request", f"{who['id']}-{cause}", now[0])
    await asyncio.gather(*(w.run_once() for w in workers))
    assert smtp_server.messages == []
    now[0] = rome(3, 7, 31)
    for _ in range(2):
        await asyncio.gather(*(w.run_once() for w in workers))
    await smtp_server.wait_for(5)
    await asyncio.sleep(0.3)
    assert Counter(m["To"] for m in smtp_server.messages) == Counter(
        {who["address"]: 1 for who in people})
    assert all("New teleconsult requests (×3)" in body_of(m) for m in smtp_server.messages)
    for who in people:
        [made] = await digests_of(world, who["id"])
        assert (made.status, made.items, made.due_at) == ("sent", 3, rome(3, 7, 30))


async def test_a_lease_takes_one_batch_of_many_due_summaries(
        client: TestClient[Any, Any], world: World, app: web.Application) -> None:
    """The lease's candidates are locked once (a materialized CTE): PostgreSQL may not run the
    locking subquery again while updating and take more than a batch."""
    who = await person(client, world, "doctor", "d@asl.example")
    now = rome(9, 9)
    async with app[keys.SESSIONS]() as session:
        session.add_all(NotificationDigest(
            user_id=who["id"], due_at=now - timedelta(days=n), address=who["address"],
            items=1, created_at=now, next_attempt_at=now) for n in range(BATCH * 3))
        await session.commit()
    worker = DeliveryWorker(app[keys.SESSIONS], None, Channels.from_settings(app[keys.SETTINGS]))
    async with app[keys.SESSIONS]() as session:
        first = await worker._claim(session, now, NotificationDigest)
        second = await worker._claim(session, now, NotificationDigest)
    assert len(first) == len(second) == BATCH and not set(first) & set(second)


async def test_a_hold_waits_for_a_change_of_choices_and_is_dated_by_it(
        client: TestClient[Any, Any], world: World, app: web.Application) -> None:
    who = await person(client, world, "doctor", "d@asl.example",
                       notify_delivery={"teleconsult_request": "digest"})  # 07:30
    worker = DeliveryWorker(app[keys.SESSIONS], None, Channels.from_settings(app[keys.SETTINGS]),
                            clock=lambda: rome(2, 9))
    await news(world, who["id"], "teleconsult_request", "c1", rome(2, 9))
    other = create_async_engine(app[keys.SETTINGS].effective_database_url)
    try:
        async with other.connect() as change:  # a change of the time, not committed yet
            await change.execute(text("UPDATE users SET digest_time = '18:00' WHERE id = :id"),
                                 {"id": who["id"]})
            holding = asyncio.ensure_future(worker.dispatch())
            await asyncio.sleep(0.5)
            assert not holding.done()  # the hold waits for the owner's row
            await change.commit()
            assert await holding == 1
    finally:
        await other.dispose()
    [held] = await held_of(world, who["id"])
    assert held.due_at == rome(2, 18)  # by the choice committed, not the one read before
