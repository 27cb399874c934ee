"""Patients and delegates: a signed visit report and visit changes reach them, by email too,
without anything clinical; a patient who opted out gets neither."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.db.models import User
from telemed.notify.setup import NOTIFIER
from telemed.services import visits as visit_service
from telemed.settings import Settings
from tests.conftest import PASSWORD, World
from tests.integration.notify.clinic import with_mail
from tests.integration.visit_helpers import make_visit
from tests.smtp_fixture import MailCatcher

Client = TestClient[Any, Any]
REPORT = "Dispnea da sforzo, edemi declivi. Aumentare furosemide a 50 mg."


@pytest.fixture
def settings(settings: Settings, smtp_server: MailCatcher) -> Settings:
    return with_mail(settings, smtp_server.url)


async def _email(world: World, user_id: str, address: str) -> None:
    async with world.app[keys.SESSIONS]() as session:
        user = await session.get(User, user_id)
        assert user is not None
        user.email = address
        session.add(user)
        await session.commit()


async def _kinds(client: Client, headers: dict[str, str]) -> list[str]:
    data = await (await client.get("/api/v1/notifications", headers=headers)).json()
    return [n["kind"] for n in data["items"]]


async def test_signed_report_and_visit_changes_reach_patient_and_delegate(
        client: Client, world: World, smtp_server: MailCatcher) -> None:
    smtp_server.forbid("Dispnea", "edemi", "furosemide")
    setup = await make_visit(world)  # scheduled by the doctor: visit_changed for the patient
    patient_h = setup.headers[setup.patient_user["username"]]
    doctor_h = setup.headers[setup.doctor["username"]]
    assert await _kinds(client, patient_h) == ["visit_changed"]
    assert await _kinds(client, doctor_h) == []  # who made the change is not told

    caregiver = await world.user("patient")
    care_h = await world.token(caregiver["username"])
    resp = await client.post(f"/api/v1/patients/{setup.patient_id}/delegates", headers=patient_h,
                             json={"delegate_username": caregiver["username"],
                                   "relationship": "caregiver"})
    assert resp.status == 201
    await _email(world, setup.patient_user["id"], "patient@home.example")
    await _email(world, caregiver["id"], "daughter@home.example")

    async with world.app[keys.SESSIONS]() as session:
        await visit_service.advance(session, setup.visit_id, "in_progress")
    resp = await client.post(f"/api/v1/visits/{setup.visit_id}/report", headers=doctor_h,
                             json={"text": REPORT})
    assert resp.status == 201
    assert await _kinds(client, patient_h) == ["visit_changed"]  # a draft tells nobody
    signed = await client.post(f"/api/v1/documents/{(await resp.json())['id']}/sign",
                               headers=doctor_h, json={"password": PASSWORD})
    assert signed.status == 200
    assert await _kinds(client, patient_h) == ["document_available", "visit_changed"]
    assert await _kinds(client, care_h) == ["document_available"]

    await world.app[NOTIFIER].run_once()  # the earlier visit_changed too: addresses count
    messages = await smtp_server.wait_for(3)  # when the worker sends, not when recorded
    assert sorted((m["To"], m["Subject"]) for m in messages) == [
        ("daughter@home.example", "Telemed: A new document is available in your record"),
        ("patient@home.example", "Telemed: A new document is available in your record"),
        ("patient@home.example", "Telemed: A visit of yours was scheduled or changed")]


async def test_opted_out_patient_gets_no_visit_notifications_and_cancel_notifies(
        client: Client, world: World, smtp_server: MailCatcher) -> None:
    setup = await make_visit(world, clinicians=2)
    patient_h = setup.headers[setup.patient_user["username"]]
    second_h = setup.headers[setup.doctors[1]["username"]]
    assert await _kinds(client, second_h) == ["visit_changed"]  # a participant
    resp = await client.patch("/api/v1/users/me", headers=patient_h,
                              json={"notify": {"visit_changed": False}})
    assert resp.status == 200
    cancel = await client.post(f"/api/v1/visits/{setup.visit_id}/cancel",
                               headers=setup.headers[setup.doctor["username"]])
    assert cancel.status == 200
    assert await _kinds(client, patient_h) == ["visit_changed"]  # only the first one
    assert await _kinds(client, second_h) == ["visit_changed", "visit_changed"]
