"""The devices page for staff (docs/devices.md), against the real app and a real Mosquitto:
register with credentials shown once (QR code, printable sheet with a mosquitto_pub line that
works), new credentials, reassignment with history, revocation; and who may not."""

from __future__ import annotations

import asyncio
import html
import re
from typing import Any

import pytest
import segno
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlmodel import select

from telemed import keys
from telemed.db.models import Device, DeviceAssignment, Observation
from telemed.services.devices import authenticate_device
from tests.broker_fixture import TestBroker
from tests.conftest import World
from tests.helpers.pages import log_in, post_form, text_of
from tests.helpers.waiting import eventually

pytestmark = pytest.mark.broker

Client = TestClient[Any, Any]
PASSWORD_RE = re.compile(r"<code data-password>([^<]+)</code>")
EXAMPLE_RE = re.compile(r"<code data-example>([^<]+)</code>")
QR_RE = re.compile(r'<img src="(data:image/svg\+xml[^"]+)"')


@pytest.fixture
def app(broker_app: web.Application) -> web.Application:
    return broker_app


async def _device(app: web.Application, serial: str) -> Device:
    async with app[keys.SESSIONS]() as session:
        found = (await session.exec(select(Device).where(Device.serial == serial))).one()
        return found


async def test_register_print_rotate_reassign_revoke(client: Client, world: World,
                                                     app: web.Application,
                                                     broker: TestBroker) -> None:
    nurse = await world.user("nurse")
    patient = await world.patient(team=[nurse["id"]])
    other = await world.patient(team=[nurse["id"]])
    await log_in(client, nurse["username"])
    page = await client.get("/devices")
    assert page.status == 200 and "No devices registered yet." in await page.text()
    # a bad serial: the form again, nothing registered
    resp = await post_form(client, "/devices", {"patient_id": patient.id, "kind": "scale",
                                                "serial": "has space"})
    assert resp.status == 422 and "Serial must be" in text_of(await resp.text())
    resp = await post_form(client, "/devices", {"patient_id": patient.id,
                                                "kind": "pulse_oximeter", "serial": "OX-77"})
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    sheet = await resp.text()
    device = await _device(app, "OX-77")
    password = PASSWORD_RE.search(sheet)[1]  # type: ignore[index]
    assert await _authenticates(app, device.id, password)
    url = f"mqtt://{device.id}:{password}@{broker.info.host}:{broker.info.port}"
    assert html.unescape(QR_RE.search(sheet)[1]) == segno.make(  # type: ignore[index]
        url, error="m").svg_data_uri(scale=5, border=2)
    assert f"telemed/v1/devices/{device.id}/readings" in sheet
    # the printed mosquitto_pub line works as it is: the reading reaches the record
    example = html.unescape(EXAMPLE_RE.search(sheet)[1])  # type: ignore[index]
    proc = await asyncio.create_subprocess_exec("bash", "-c", example)
    assert await proc.wait() == 0
    await eventually(lambda: _has_reading(app, patient.id))
    # the device page: its history, then new credentials (the old password stops working)
    assert "OX-77" in await (await client.get("/devices")).text()
    resp = await post_form(client, f"/devices/{device.id}/credentials", {})
    assert resp.status == 200
    fresh = PASSWORD_RE.search(await resp.text())[1]  # type: ignore[index]
    assert fresh != password
    assert not await _authenticates(app, device.id, password)
    assert await _authenticates(app, device.id, fresh)
    # reassign to the other patient: the history keeps both
    resp = await post_form(client, f"/devices/{device.id}/assignment",
                           {"patient_id": other.id})
    assert resp.status == 303
    async with app[keys.SESSIONS]() as session:
        rows = (await session.exec(select(DeviceAssignment).where(
            DeviceAssignment.device_id == device.id))).all()
    assert [r.patient_id for r in rows] == [patient.id, other.id]
    page_text = text_of(await (await client.get(f"/devices/{device.id}")).text())
    assert other.family_name in page_text and patient.family_name in page_text
    # revoke: the device can no longer connect, the manage forms are gone
    resp = await post_form(client, f"/devices/{device.id}/revoke", {})
    assert resp.status == 303
    after = await (await client.get(f"/devices/{device.id}")).text()
    assert "Manage this device" not in after
    assert (await _device(app, "OX-77")).revoked_at is not None
    assert not await _authenticates(app, device.id, fresh)


async def _authenticates(app: web.Application, device_id: str, password: str) -> bool:
    async with app[keys.SESSIONS]() as session:
        return await authenticate_device(session, device_id, password) is not None


async def _has_reading(app: web.Application, patient_id: str) -> bool:
    async with app[keys.SESSIONS]() as session:
        rows = (await session.exec(select(Observation).where(
            Observation.patient_id == patient_id))).all()
        return any(r.metric == "spo2" and r.value == 97 for r in rows)


async def test_who_may_not(client: Client, world: World, app: web.Application) -> None:
    """A nurse of another team, a patient, and an administrator reaching for clinical data."""
    doctor = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    await log_in(client, doctor["username"])
    resp = await post_form(client, "/devices", {"patient_id": patient.id, "kind": "scale",
                                                "serial": "SC-1"})
    assert resp.status == 200
    device = await _device(app, "SC-1")
    client.session.cookie_jar.clear()

    stranger = await world.user("nurse")
    await log_in(client, stranger["username"])
    assert "SC-1" not in await (await client.get("/devices")).text()
    assert (await client.get(f"/devices/{device.id}")).status == 403
    for path, data in ((f"/devices/{device.id}/credentials", {}),
                       (f"/devices/{device.id}/revoke", {}),
                       (f"/devices/{device.id}/assignment", {"patient_id": ""}),
                       ("/devices", {"patient_id": patient.id, "kind": "scale",
                                     "serial": "SC-2"})):
        resp = await post_form(client, path, data, page="/devices")
        assert resp.status in (403, 404), (path, resp.status)
    client.session.cookie_jar.clear()

    own = await world.user("patient", patient_id=patient.id)
    await log_in(client, own["username"])
    assert (await client.get("/devices", allow_redirects=False)).status == 403
    resp = await post_form(client, f"/devices/{device.id}/revoke", {}, page="/my-record")
    assert resp.status == 403
    client.session.cookie_jar.clear()

    admin = await world.user("admin")
    headers = await world.token(admin["username"])
    await log_in(client, admin["username"])
    listing = await client.get("/devices")
    assert listing.status == 200 and "SC-1" in await listing.text()
    assert (await client.get(f"/patients/{patient.id}/vitals",
                             allow_redirects=False)).status in (403, 404)
    client.session.cookie_jar.clear()
    assert (await client.get(f"/api/v1/patients/{patient.id}/observations",
                             headers=headers)).status == 403
    # nothing changed by the refused attempts
    again = await _device(app, "SC-1")
    assert again.revoked_at is None and again.patient_id == patient.id
    async with app[keys.SESSIONS]() as session:
        assert (await session.exec(select(Device).where(Device.serial == "SC-2"))).first() \
            is None
