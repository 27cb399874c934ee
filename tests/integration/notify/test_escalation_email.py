"""Escalation that reaches a person, by email, with time injected (no sleeping)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.db.models import User
from telemed.settings import Settings
from tests.conftest import World
from tests.helpers.pages import log_in, post_form
from tests.integration.monitoring import now_s
from tests.integration.notify.clinic import PLAN, Clinic, with_mail
from tests.smtp_fixture import MailCatcher, body_of

Client = TestClient[Any, Any]


@pytest.fixture
def settings(settings: Settings, smtp_server: MailCatcher) -> Settings:
    return with_mail(settings, smtp_server.url)


@pytest.fixture
async def clinic(world: World, smtp_server: MailCatcher) -> Clinic:
    made = await Clinic(world).build()
    p = made.ward.patient
    smtp_server.forbid(p.given_name, p.family_name, p.fiscal_code, *PLAN["goals"],
                       "Scompenso", "furosemide")
    return made


async def test_chain_on_call_then_responsible_doctor_then_team_until_acknowledged(
        client: Client, clinic: Clinic, smtp_server: MailCatcher) -> None:
    await clinic.put_on_call(clinic.oncall["id"])
    alert_id = await clinic.critical()
    assert "escalated" not in await clinic.jobs_after(14)  # not yet: the plan says 15
    assert await clinic.notifications(kind="alert_escalated") == []

    assert "escalated" in await clinic.jobs_after(2)
    [first] = await clinic.notifications(kind="alert_escalated")
    assert first.user_id == clinic.oncall["id"] and first.cause_id == alert_id
    assert "escalated" not in await clinic.jobs_after(5)  # the next period has not passed

    assert "escalated" in await clinic.jobs_after(11)
    assert [n.user_id for n in await clinic.notifications(kind="alert_escalated")] == [
        clinic.oncall["id"], clinic.ward.doctor["id"]]
    assert "escalated" in await clinic.jobs_after(16)  # the rest of the care team
    assert [n.user_id for n in await clinic.notifications(kind="alert_escalated")][2:] == [
        clinic.ward.nurse["id"]]
    assert "escalated" in await clinic.jobs_after(16)  # past the end: everyone again
    assert len(await clinic.notifications(kind="alert_escalated")) == 6

    await clinic.worker.run_once()
    messages = await smtp_server.wait_for(6)
    assert sorted(m["To"] for m in messages) == sorted(
        ["oncall@asl.example", "doctor@asl.example", "nurse@asl.example",
         "oncall@asl.example", "doctor@asl.example", "nurse@asl.example"])

    # The doctor acknowledges from the API: the chain stops.
    resp = await client.post(f"/api/v1/alerts/{alert_id}/ack", json={},
                             headers=await clinic.ward.headers(clinic.ward.doctor))
    assert resp.status == 200
    assert "escalated" not in await clinic.jobs_after(60)
    assert len(await clinic.notifications(kind="alert_escalated")) == 6


async def test_email_headers_language_and_link_then_one_click_acknowledge(
        client: Client, clinic: Clinic, smtp_server: MailCatcher) -> None:
    async with clinic.world.app[keys.SESSIONS]() as session:
        user = await session.get(User, clinic.ward.doctor["id"])
        assert user is not None
        user.language = "it"
        session.add(user)
        await session.commit()
    doctor = await clinic.ward.headers(clinic.ward.doctor)  # before the browser session
    alert_id = await clinic.critical()  # nobody on call: the responsible doctor
    await clinic.jobs_after(16)
    await clinic.worker.run_once()
    [msg] = await smtp_server.wait_for(1)
    [n] = await clinic.notifications(kind="alert_escalated")
    assert msg["To"] == "doctor@asl.example"
    assert msg["From"] == "Telemed <telemed@asl.example>"
    assert msg["Message-ID"] == f"<{n.id}@asl.example>"
    assert msg["Content-Language"] == "it"
    assert msg["Subject"].startswith("Telemed: Allerta critica non presa in carico (paziente ")
    body = body_of(msg)
    link = re.search(r"http://127\.0\.0\.1:8080(/\S+)", body)
    assert link is not None and link[1] == f"/alerts/{alert_id}/acknowledge"
    assert "non contiene dati clinici" in body

    # The link opens the page after login, and one button acknowledges.
    first = await client.get(link[1], allow_redirects=False)
    assert first.status == 302 and "/login?next=" in first.headers["Location"]
    assert (await log_in(client, clinic.ward.doctor["username"])).status == 303
    board = await (await client.get("/alerts")).text()
    assert f'href="/alerts/{alert_id}/acknowledge"' in board  # escalated: who was notified
    page = await client.get(link[1])
    assert page.status == 200
    text = await page.text()
    assert text.count("data-acknowledge") == 1
    assert "data-alert-notifications" in text and "doctor@asl.example" not in text
    done = await post_form(client, f"/alerts/{alert_id}/ack", {"next": "/alerts"}, link[1])
    assert done.status == 303
    client.session.cookie_jar.clear()
    resp = await client.get("/api/v1/alerts?status=acknowledged", headers=doctor)
    assert [a["id"] for a in (await resp.json())["items"]] == [alert_id]


async def test_alert_shows_who_was_notified_by_which_channel(
        client: Client, clinic: Clinic, smtp_server: MailCatcher) -> None:
    alert_id = await clinic.critical()
    await clinic.jobs_after(16)
    doctor = await clinic.ward.headers(clinic.ward.doctor)
    before = await (await client.get(f"/api/v1/alerts/{alert_id}/notifications",
                                     headers=doctor)).json()
    assert [(i["user_id"], i["channel"]) for i in before["items"]] == [
        (clinic.ward.doctor["id"], "app")]
    await clinic.worker.run_once()
    after = await (await client.get(f"/api/v1/alerts/{alert_id}/notifications",
                                    headers=doctor)).json()
    assert [(i["channel"], i["status"]) for i in after["items"]] == [
        ("app", "delivered"), ("email", "sent")]
    assert after["items"][1]["sent_at"] is not None
    stranger = await client.get(f"/api/v1/alerts/{alert_id}/notifications",
                                headers=await clinic.ward.headers(clinic.ward.stranger))
    assert stranger.status == 403


async def test_snoozed_and_warning_alerts_do_not_escalate(
        client: Client, clinic: Clinic, smtp_server: MailCatcher) -> None:
    await clinic.ward.send(("spo2", 90, "%", now_s()))  # warning: never pages, day or night
    assert "escalated" not in await clinic.jobs_after(120)
    clinic.now = clinic.now.replace(hour=3)  # a night on the same alert: still nothing
    assert "escalated" not in await clinic.jobs_after(60)
    assert await clinic.notifications() == []


async def test_a_snoozed_critical_alert_escalates_only_after_the_snooze(
        client: Client, clinic: Clinic, smtp_server: MailCatcher) -> None:
    alert_id = await clinic.critical()
    resp = await client.post(f"/api/v1/alerts/{alert_id}/snooze", json={"minutes": 60},
                             headers=await clinic.ward.headers(clinic.ward.nurse))
    assert resp.status == 200
    assert "escalated" not in await clinic.jobs_after(30)  # due, but snoozed
    assert await clinic.notifications(kind="alert_escalated") == []
    assert "escalated" in await clinic.jobs_after(35)  # the snooze ran out
    assert len(await clinic.notifications(kind="alert_escalated")) == 1


async def test_alert_critical_reaches_only_the_clinicians_who_opted_in(
        client: Client, clinic: Clinic, smtp_server: MailCatcher) -> None:
    resp = await client.patch("/api/v1/users/me", json={"notify": {"alert_critical": True}},
                              headers=await clinic.ward.headers(clinic.ward.nurse))
    assert resp.status == 200 and (await resp.json())["notify"]["alert_critical"] is True
    await clinic.critical()
    critical = await clinic.notifications(kind="alert_critical")
    assert [n.user_id for n in critical] == [clinic.ward.nurse["id"]]
    await clinic.worker.run_once()
    [msg] = await smtp_server.wait_for(1)
    assert msg["To"] == "nurse@asl.example"
    assert msg["Subject"].startswith("Telemed: New critical alert (patient ")


async def test_on_call_access_opens_the_record_only_for_the_shift_and_the_escalated_patient(
        client: Client, clinic: Clinic, smtp_server: MailCatcher) -> None:
    oncall = await clinic.ward.headers(clinic.ward.stranger)  # another team's doctor
    await clinic.put_on_call(clinic.ward.stranger["id"], hours=2)
    other_patient_alerts = f"/api/v1/alerts?patient={clinic.ward.other.id}"
    before = await client.get(f"/api/v1/alerts?patient={clinic.ward.patient.id}",
                              headers=oncall)
    assert before.status == 403  # on call, but nothing escalated to them yet
    alert_id = await clinic.critical()
    await clinic.jobs_after(16)
    resp = await client.get(f"/api/v1/alerts?patient={clinic.ward.patient.id}",
                            headers=oncall)
    assert resp.status == 200 and [a["id"] for a in (await resp.json())["items"]] == [alert_id]
    assert (await client.get(other_patient_alerts, headers=oncall)).status == 200  # own team
    nobody = await clinic.world.user("doctor")
    assert (await client.get(f"/api/v1/alerts?patient={clinic.ward.patient.id}",
                             headers=await clinic.world.token(nobody["username"]))).status == 403
    async with clinic.world.app[keys.SESSIONS]() as session:
        from sqlmodel import update

        from telemed.db.models import OnCallShift

        await session.exec(update(OnCallShift).values(  # the shift ends
            ends_at=clinic.now - timedelta(seconds=1)))
        await session.commit()
    after = await client.get(f"/api/v1/alerts?patient={clinic.ward.patient.id}", headers=oncall)
    assert after.status == 403


async def test_acknowledge_page_refuses_who_may_not_see_the_alert(
        client: Client, clinic: Clinic, smtp_server: MailCatcher) -> None:
    alert_id = await clinic.critical()
    for person in (clinic.ward.stranger, clinic.ward.patient_user):
        client.session.cookie_jar.clear()
        assert (await log_in(client, person["username"])).status == 303
        page = await client.get(f"/alerts/{alert_id}/acknowledge")
        assert page.status == 403, person
        assert "data-acknowledge" not in await page.text()
    client.session.cookie_jar.clear()
    assert (await log_in(client, clinic.ward.nurse["username"])).status == 303
    assert (await client.get(f"/alerts/{'0' * 32}/acknowledge")).status == 404
    ok = await client.get(f"/alerts/{alert_id}/acknowledge")
    assert ok.status == 200 and "data-acknowledge" in await ok.text()
