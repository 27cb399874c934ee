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
from telemed.i18n import gettext
from telemed.ingest.scheduler import run_once
from telemed.notify.reminders import visit_reminders
from telemed.notify.setup import NOTIFIER
from telemed.settings import Settings
from tests.conftest import World
from tests.helpers.pages import field_error, log_in, post_form
from tests.integration.notify.clinic import with_mail
from tests.integration.visit_helpers import VisitSetup, make_visit
from tests.smtp_fixture import MailCatcher, body_of


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


async def _guests_of_visit(world: World, minutes: float
                           ) -> tuple[VisitSetup, dict[str, str], str]:
    """A visit ``minutes`` ahead, its doctor's headers and its guests' address."""
    setup = await make_visit(world, start_minutes=minutes)
    return (setup, setup.headers[setup.doctors[0]["username"]],
            f"/api/v1/visits/{setup.visit_id}/guests")


async def test_guests_get_their_reminders_by_email_with_a_link_that_joins(
        client: TestClient[Any, Any], world: World, smtp_server: MailCatcher) -> None:
    setup, doctor, guests = await _guests_of_visit(world, 30 * 60)
    bad = await client.post(guests, json={"name": "Maria (figlia)", "email": "not an address"},
                            headers=doctor)
    assert bad.status == 422 and "email" in (await bad.json())["error"]["fields"]
    assert (await (await client.get(guests, headers=doctor)).json())["items"] == []
    resp = await client.post(guests, json={"name": "Maria (figlia)",
                                           "email": "maria@family.example"}, headers=doctor)
    assert resp.status == 201 and (await resp.json())["email"] == "maria@family.example"
    async with world.app[keys.SESSIONS]() as session:
        visit = await session.get(Visit, setup.visit_id)
        assert visit is not None
        start = visit.scheduled_start
        await visit_reminders(session, start - timedelta(hours=23))
        await session.commit()
    worker = world.app[NOTIFIER]
    await worker.run_once()
    [msg] = [m for m in await smtp_server.wait_for(1) if m["To"] == "maria@family.example"]
    lang = world.app[keys.SETTINGS].language  # a guest has no language of their own
    assert msg["Subject"] == "Telemed: " + gettext(
        lang, "Reminder: a video visit you are invited to starts soon")
    assert msg["Content-Language"] == lang
    [link] = [w for w in body_of(msg).split() if "/guest?t=" in w]
    opened = await client.get("/" + link.split("//", 1)[1].split("/", 1)[1],
                              allow_redirects=False)
    assert opened.status in (200, 302, 303), await opened.text()  # the link joins
    # nobody's notification centre shows a guest's reminder
    listed = await client.get("/api/v1/notifications", headers=doctor)
    assert all(n["kind"] != "visit_reminder" for n in (await listed.json())["items"])
    # the quarter-hour reminder: the guest used the link, so it points to the guest page
    async with world.app[keys.SESSIONS]() as session:
        await visit_reminders(session, start - timedelta(minutes=10))
        await session.commit()
    worker.clock = lambda: start - timedelta(minutes=10)
    await worker.run_once()
    later = [m for m in await smtp_server.wait_for(2) if m["To"] == "maria@family.example"]
    assert len(later) == 2
    lines = body_of(later[1]).splitlines()
    assert any(line.endswith(f"/visits/{setup.visit_id}/guest") for line in lines)
    assert "?t=" not in body_of(later[1]) and "log in" not in body_of(later[1])


async def test_a_revoked_guest_gets_no_reminder(
        client: TestClient[Any, Any], world: World, smtp_server: MailCatcher) -> None:
    setup, doctor, guests = await _guests_of_visit(world, 20 * 60)
    resp = await client.post(guests, json={"name": "Interprete", "email": "i@lingue.example"},
                             headers=doctor)
    guest_id = (await resp.json())["id"]
    assert (await client.delete(f"{guests}/{guest_id}", headers=doctor)).status in (200, 204)
    async with world.app[keys.SESSIONS]() as session:
        visit = await session.get(Visit, setup.visit_id)
        assert visit is not None
        await visit_reminders(session, visit.scheduled_start - timedelta(minutes=10))
        await session.commit()
        guest_rows = (await session.exec(select(Notification).where(
            col(Notification.guest_id).is_not(None)))).all()
    assert guest_rows == []


async def test_the_guests_page_takes_the_address_and_refuses_a_bad_one(
        client: TestClient[Any, Any], world: World, smtp_server: MailCatcher) -> None:
    setup, doctor, guests = await _guests_of_visit(world, 60)
    page = f"/visits/{setup.visit_id}/guests"
    await log_in(client, setup.doctors[0]["username"])
    bad = await post_form(client, page, {"name": "Maria", "email": "maria@"}, page=page)
    assert bad.status == 422
    assert field_error(await bad.text(), "email")
    assert (await (await client.get(guests, headers=doctor)).json())["items"] == []
    good = await post_form(client, page, {"name": "Maria", "email": "maria@family.example"},
                           page=page)
    assert good.status in (302, 303)
    [guest] = (await (await client.get(guests, headers=doctor)).json())["items"]
    assert guest["email"] == "maria@family.example"
