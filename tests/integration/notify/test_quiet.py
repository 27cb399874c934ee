"""Quiet by design, with time injected: warnings page at night only when the plan says so,
a snooze never hides a worse severity, duplicates fold into one notification that says how
many (docs/notifications.md, "Quiet by design")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlmodel import select

from telemed import keys
from telemed.db.models import Alert, Notification
from telemed.domain.quiet import FOLD_WINDOW
from telemed.notify import outbox
from telemed.settings import Settings
from tests.conftest import World
from tests.integration.monitoring import now_s
from tests.integration.notify.clinic import PLAN, Clinic, with_mail
from tests.smtp_fixture import MailCatcher

Client = TestClient[Any, Any]


@pytest.fixture
def settings(settings: Settings, smtp_server: MailCatcher) -> Settings:
    return with_mail(settings, smtp_server.url)


def _tomorrow_utc(hour: int) -> datetime:
    """Tomorrow at ``hour`` UTC: 10 is day in Rome (11 or 12), 2 is night (3 or 4)."""
    day = datetime.now(UTC) + timedelta(days=1)
    return day.replace(hour=hour, minute=0, second=0, microsecond=0)


async def _clinic(world: World, smtp_server: MailCatcher, **plan: Any) -> Clinic:
    # The clock goes up to 34 h past the reading ("tomorrow", in UTC, from any time of day):
    # a device silent for a day would open an alert of its own past midnight UTC.
    made = await Clinic(world).build({**PLAN, "silence_hours": 72, **plan})
    p = made.ward.patient
    smtp_server.forbid(p.given_name, p.family_name, *PLAN["goals"], "Scompenso")
    await made.put_on_call(made.oncall["id"], hours=60)
    return made


async def _opted_in(client: Client, world: World, smtp_server: MailCatcher) -> Clinic:
    """A clinic whose doctor opted in to ``alert_critical``."""
    clinic = await _clinic(world, smtp_server)
    resp = await client.patch("/api/v1/users/me", json={"notify": {"alert_critical": True}},
                              headers=await clinic.ward.headers(clinic.ward.doctor))
    assert resp.status == 200
    return clinic


async def test_a_warning_pages_by_day_but_waits_for_the_morning_when_the_plan_says_day(
        client: Client, world: World, smtp_server: MailCatcher) -> None:
    clinic = await _clinic(world, smtp_server, page_warnings="day")
    await clinic.ward.send(("spo2", 90, "%", now_s()))  # warning
    clinic.now = _tomorrow_utc(2)
    assert "escalated" not in await clinic.jobs_after(0)  # night: nobody is paged
    assert await clinic.notifications(kind="alert_escalated") == []
    clinic.now = _tomorrow_utc(10)
    assert await clinic.jobs_after(0) == ["escalated"]  # morning: the step is taken
    [sent] = await clinic.notifications(kind="alert_escalated")
    assert sent.user_id == clinic.oncall["id"]


async def test_a_warning_pages_at_night_when_the_plan_says_day_and_night(
        client: Client, world: World, smtp_server: MailCatcher) -> None:
    clinic = await _clinic(world, smtp_server, page_warnings="day_and_night")
    await clinic.ward.send(("spo2", 90, "%", now_s()))
    clinic.now = _tomorrow_utc(2)
    assert await clinic.jobs_after(0) == ["escalated"]
    await clinic.worker.run_once()
    [msg] = await smtp_server.wait_for(1)
    assert msg["To"] == "oncall@asl.example"


async def test_without_the_option_a_warning_never_pages_and_a_bad_option_is_refused(
        client: Client, world: World, smtp_server: MailCatcher) -> None:
    clinic = await _clinic(world, smtp_server)
    await clinic.ward.send(("spo2", 90, "%", now_s()))
    for hour in (2, 10):
        clinic.now = _tomorrow_utc(hour)
        assert "escalated" not in await clinic.jobs_after(0)
    resp = await client.post(f"/api/v1/patients/{clinic.ward.patient.id}/careplans",
                             json={**PLAN, "title": "x", "period_start": "2026-01-01",
                                   "page_warnings": "sometimes"},
                             headers=await clinic.ward.headers(clinic.ward.doctor))
    assert resp.status == 422
    assert "page_warnings" in (await resp.json())["error"]["fields"]
    resp = await client.post(f"/api/v1/patients/{clinic.ward.patient.id}/careplans",
                             json={**PLAN, "title": "x", "period_start": "2026-01-01",
                                   "page_warnings": "day"},
                             headers=await clinic.ward.headers(clinic.ward.doctor))
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["page_warnings"] == "day"


async def test_a_snooze_silences_but_a_worse_severity_always_notifies(
        client: Client, world: World, smtp_server: MailCatcher) -> None:
    clinic = await _clinic(world, smtp_server, page_warnings="day_and_night")
    nurse = await clinic.ward.headers(clinic.ward.nurse)
    resp = await client.patch("/api/v1/users/me", json={"notify": {"alert_critical": True}},
                              headers=nurse)
    assert resp.status == 200
    await clinic.ward.send(("spo2", 90, "%", now_s()))
    async with world.app[keys.SESSIONS]() as session:
        [alert_id] = [a.id for a in (await session.exec(
            select(Alert).where(Alert.patient_id == clinic.ward.patient.id))).all()]
    resp = await client.post(f"/api/v1/alerts/{alert_id}/snooze", json={"minutes": 240},
                             headers=nurse)
    assert resp.status == 200
    assert "escalated" not in await clinic.jobs_after(30)  # snoozed: no step, no message
    assert await clinic.notifications() == []
    await clinic.ward.send(("spo2", 84, "%", now_s()))  # worse: critical, through the snooze
    [critical] = await clinic.notifications(kind="alert_critical")
    assert critical.user_id == clinic.ward.nurse["id"]
    async with world.app[keys.SESSIONS]() as session:
        alert = await session.get(Alert, alert_id)
        assert alert is not None and alert.snoozed_until is None
    assert "escalated" in await clinic.jobs_after(16)  # the chain goes on as well


async def test_duplicates_within_the_window_fold_into_one_notification_that_says_how_many(
        client: Client, world: World, smtp_server: MailCatcher) -> None:
    clinic = await _opted_in(client, world, smtp_server)
    doctor = clinic.ward.doctor["id"]
    t0 = datetime.now(UTC)

    async def critical_at(at: datetime, cause: str) -> list[Notification]:
        async with world.app[keys.SESSIONS]() as session:
            made = await outbox.record(
                session, user_ids=[doctor], kind="alert_critical",
                params={"initials": "M. R."}, link=f"/alerts/{cause}/acknowledge",
                cause_type="alert", cause_id=cause, now=at, subject=clinic.ward.patient.id)
            await session.commit()
            return made

    await critical_at(t0, "a1")
    clinic.now = t0
    await clinic.worker.run_once()  # the first one is sent at once
    await critical_at(t0 + timedelta(minutes=2), "a2")
    await critical_at(t0 + timedelta(minutes=9), "a1")
    [folded] = await clinic.notifications(user_id=doctor, kind="alert_critical")
    assert folded.fold_count == 3 and folded.folded_at == t0 + timedelta(minutes=9)
    await clinic.worker.run_once()  # announced again; not mailed again
    [msg] = await smtp_server.wait_for(1)
    assert len(smtp_server.messages) == 1
    assert msg["Subject"] == "Telemed: New critical alert (patient M. R.)"
    listed = await client.get("/api/v1/notifications",
                              headers=await clinic.ward.headers(clinic.ward.doctor))
    [item] = (await listed.json())["items"]
    assert item["count"] == 3 and item["title"].endswith("(×3)")
    # after the window: a new notification (and a new email)
    await critical_at(t0 + FOLD_WINDOW + timedelta(seconds=1), "a3")
    assert len(await clinic.notifications(user_id=doctor, kind="alert_critical")) == 2
    # once read, the next duplicate is news again
    resp = await client.post("/api/v1/notifications/read-all",
                             headers=await clinic.ward.headers(clinic.ward.doctor))
    assert resp.status in (200, 204)
    await critical_at(t0 + FOLD_WINDOW + timedelta(minutes=1), "a3")
    assert len(await clinic.notifications(user_id=doctor, kind="alert_critical")) == 3


async def test_a_folded_notification_not_yet_sent_says_how_many_in_its_email(
        client: Client, world: World, smtp_server: MailCatcher) -> None:
    clinic = await _opted_in(client, world, smtp_server)
    doctor = clinic.ward.doctor["id"]
    t0 = datetime.now(UTC)
    async with world.app[keys.SESSIONS]() as session:
        for minute, cause in ((0, "a1"), (1, "a2")):
            await outbox.record(session, user_ids=[doctor], kind="alert_critical",
                                params={"initials": "M. R."}, link="/alerts",
                                cause_type="alert", cause_id=cause,
                                now=t0 + timedelta(minutes=minute),
                                subject=clinic.ward.patient.id)
            await session.flush()
        await session.commit()
    clinic.now = t0 + timedelta(minutes=1)
    await clinic.worker.run_once()
    [msg] = await smtp_server.wait_for(1)
    assert msg["Subject"] == "Telemed: New critical alert (patient M. R.) (×2)"


async def test_further_escalation_steps_of_one_alert_page_again(
        client: Client, world: World, smtp_server: MailCatcher) -> None:
    clinic = await _clinic(world, smtp_server, escalate_after_minutes=1)
    await clinic.critical()
    for _ in range(4):  # on call, responsible doctor, team, everyone again
        assert await clinic.jobs_after(2) == ["escalated"]
    to_oncall = await clinic.notifications(user_id=clinic.oncall["id"], kind="alert_escalated")
    assert len(to_oncall) == 2 and all(n.fold_count == 1 for n in to_oncall)
