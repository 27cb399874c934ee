"""Several delivery workers on PostgreSQL: rows claimed with FOR UPDATE SKIP LOCKED, each
notification mailed once; the migration's tables work there too."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.db.models import User
from telemed.notify import outbox
from telemed.notify.worker import Channels, DeliveryWorker
from telemed.settings import Settings
from tests.conftest import World
from tests.integration.notify.clinic import postgres_mail_app
from tests.smtp_fixture import MailCatcher

pytestmark = pytest.mark.postgres


@pytest.fixture
async def app(settings: Settings, migrated_postgres_url: str,
              smtp_server: MailCatcher) -> web.Application:
    return postgres_mail_app(settings, migrated_postgres_url, smtp_server.url)


async def test_workers_share_the_outbox_without_sending_twice(
        client: TestClient[Any, Any], world: World, app: web.Application,
        smtp_server: MailCatcher) -> None:
    ids: list[str] = []
    for i in range(10):
        made = await world.user("nurse")
        async with app[keys.SESSIONS]() as session:
            user = await session.get(User, made["id"])
            assert user is not None
            user.email = f"n{i}@asl.example"
            session.add(user)
            [n] = await outbox.record(session, user_ids=[made["id"]], kind="alert_escalated",
                                      params={"initials": "A. B."}, link="/alerts",
                                      cause_type="alert", cause_id=f"a{i}")
            await session.commit()
            ids.append(n.id)
    channels = Channels.from_settings(app[keys.SETTINGS])
    workers = [DeliveryWorker(app[keys.SESSIONS], None, channels) for _ in range(4)]
    for _ in range(2):
        await asyncio.gather(*(w.run_once() for w in workers))
    await smtp_server.wait_for(10)
    await asyncio.sleep(0.2)
    assert Counter(m["Message-ID"] for m in smtp_server.messages) == Counter(
        {f"<{n}@asl.example>": 1 for n in ids})
