"""Visit reminders through the scheduler: recorded once per lead, by email in the patient's
language, never for a visit that started or was cancelled."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlmodel import col, select

from telemed import keys
from telemed.bus import InProcessBus
from telemed.db.models import Notification, User, Visit
from telemed.ingest.scheduler import run_once
from telemed.notify.reminders import visit_reminders
from telemed.notify.setup import NOTIFIER
from telemed.settings import Settings
from tests.conftest import World
from tests.integration.notify.clinic import with_mail
from tests.integration.visit_helpers import make_visit
from tests.smtp_fixture import MailCatcher


@pytest.fixture
def settings(settings: Settings, smtp_server: MailCatcher) -> Settings:
    return with_mail(settings, smtp_server.url)


async def _reminders(world: World) -> list[tuple[str, Any]]:
    async with world.app[keys.SESSIONS]() as session:
        rows = (await session.exec(select(Notification)
                                   .where(Notification.kind == "visit_reminder")
                                   .order_by(col(Notification.created_at)))).all()
    return [(n.cause_id, n.params.get("lead")) for n in rows]


async def test_day_before_and_quarter_hour_reminders_once_each(
        client: TestClient[Any, Any], world: World, smtp_server: MailCatcher) -> None:
    setup = await make_visit(world, start_minutes=30 * 60)
    async with world.app[keys.SESSIONS]() as session:
        visit = await session.get(Visit, setup.visit_id)
        assert visit is not None
        start = visit.scheduled_start
        user = await session.get(User, setup.patient_user["id"])
        assert user is not None
        user.email, user.language = "p@home.example", "it"
        session.add(user)
        await session.commit()
    for minutes_before, expected in ((25 * 60, []), (23 * 60, ["24h"]), (22 * 60, ["24h"]),
                                     (10, ["24h", "15m"]), (5, ["24h", "15m"]),
                                     (-1, ["24h", "15m"])):
        async with world.app[keys.SESSIONS]() as session:
            await visit_reminders(session, start - timedelta(minutes=minutes_before))
            await session.commit()
        assert [lead for _, lead in await _reminders(world)] == expected, minutes_before
    await world.app[NOTIFIER].run_once()
    messages = await smtp_server.wait_for(3)  # visit_changed (booking) + two reminders
    subjects = sorted(m["Subject"] for m in messages)
    assert subjects.count("Telemed: Promemoria: hai una visita a breve") == 2


async def test_the_scheduler_pass_records_reminders(
        client: TestClient[Any, Any], world: World, smtp_server: MailCatcher) -> None:
    soon = await make_visit(world, start_minutes=10)
    cancelled = await make_visit(world, start_minutes=12)
    resp = await client.post(f"/api/v1/visits/{cancelled.visit_id}/cancel",
                             headers=cancelled.headers[cancelled.doctor["username"]])
    assert resp.status == 200
    await run_once(world.app[keys.SESSIONS], InProcessBus())
    await run_once(world.app[keys.SESSIONS], InProcessBus())
    assert await _reminders(world) == [(soon.visit_id, "15m")]
