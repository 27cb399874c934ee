"""/api/v1/devices against the real app and a real Mosquitto."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlmodel import select

from telemed import commands, keys
from telemed.broker import BROKER
from telemed.broker.topics import DeviceTopics
from telemed.db.models import AuditEvent, Device
from telemed.services.devices import authenticate_device
from telemed.settings import Settings
from tests.broker_fixture import MqttFactory, TestBroker
from tests.conftest import World

pytestmark = pytest.mark.broker

Client = TestClient[Any, Any]


@pytest.fixture
def app(broker_app: web.Application) -> web.Application:
    return broker_app


class Team:
    """A doctor with one patient on their team, and a patient of another team."""

    def __init__(self, world: World) -> None:
        self.world = world

    async def setup(self) -> Team:
        w = self.world
        self.doctor = await w.user("doctor")
        self.nurse = await w.user("nurse")
        self.stranger = await w.user("doctor")
        self.admin = await w.user("admin")
        self.patient = await w.patient(team=[self.doctor["id"], self.nurse["id"]])
        self.other_patient = await w.patient(team=[self.stranger["id"]])
        self.patient_user = await w.user("patient", patient_id=self.patient.id)
        self.doctor_auth = await w.token(self.doctor["username"])
        return self


@pytest.fixture
async def team(world: World) -> Team:
    return await Team(world).setup()


async def _register(client: Client, team: Team, serial: str = "SN-0001",
                    kind: str = "pulse_oximeter") -> dict[str, Any]:
    resp = await client.post("/api/v1/devices", headers=team.doctor_auth,
                             json={"serial": serial, "kind": kind,
                                   "patient_id": team.patient.id})
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def test_register_creates_a_working_broker_identity(
    client: Client, team: Team, app: web.Application, mqtt_client: MqttFactory,
    broker: TestBroker,
) -> None:
    body = await _register(client, team)
    device_id = body["device_id"]
    assert body["id"] == body["mqtt_username"] == body["mqtt_client_id"] == device_id
    assert body["status"] == "offline" and body["kind"] == "pulse_oximeter"
    assert body["patient_id"] == team.patient.id and body["last_seen"] is None
    assert body["topics"] == DeviceTopics.of(device_id).as_dict()
    assert body["mqtt"]["port"] == broker.info.port

    async with app[keys.SESSIONS]() as session:
        stored = await session.get(Device, device_id)
        assert stored is not None
        assert stored.secret_hash.startswith("$argon2")
        assert body["mqtt_password"] not in stored.secret_hash
        audited = (await session.exec(select(AuditEvent).where(
            AuditEvent.resource == "device", AuditEvent.action == "create"))).all()
        assert [e.resource_id for e in audited] == [device_id]

    device = await mqtt_client(device_id, body["mqtt_password"])
    assert not (await device.subscribe(body["topics"]["config"])).is_failure
    await device.publish(body["topics"]["readings"], b'[{"n":"spo2","u":"%","v":97}]')

    again = await client.get(f"/api/v1/devices/{device_id}", headers=team.doctor_auth)
    assert again.status == 200
    assert "mqtt_password" not in await again.json()


@pytest.mark.parametrize(("payload", "field"), [
    ({"serial": "has space", "kind": "scale"}, "serial"),
    ({"serial": "", "kind": "scale"}, "serial"),
    ({"serial": "x" * 65, "kind": "scale"}, "serial"),
    ({"serial": "ok/slash", "kind": "scale"}, "serial"),
    ({"serial": "SN-1", "kind": "toaster"}, "kind"),
])
async def test_invalid_registrations_are_422(client: Client, team: Team,
                                             payload: dict[str, str], field: str) -> None:
    resp = await client.post("/api/v1/devices", headers=team.doctor_auth,
                             json={**payload, "patient_id": team.patient.id})
    assert resp.status == 422
    assert field in (await resp.json())["error"]["fields"]


async def test_registration_refusals(client: Client, team: Team, world: World) -> None:
    await _register(client, team, serial="SN-DUP")
    url = "/api/v1/devices"
    good = {"serial": "SN-NEW", "kind": "scale", "patient_id": team.patient.id}

    dup = await client.post(url, headers=team.doctor_auth, json={**good, "serial": "SN-DUP"})
    assert dup.status == 409 and (await dup.json())["error"]["code"] == "serial_taken"

    unknown = await client.post(url, headers=team.doctor_auth,
                                json={**good, "patient_id": "nope"})
    assert unknown.status == 422

    other = await client.post(url, headers=team.doctor_auth,
                              json={**good, "patient_id": team.other_patient.id})
    assert other.status == 403

    anonymous = await client.post(url, json=good)
    assert anonymous.status == 401

    as_patient = await client.post(url, headers=await world.token(
        team.patient_user["username"]), json=good)
    assert as_patient.status == 403

    extra = await client.post(url, headers=team.doctor_auth, json={**good, "secret": "x"})
    assert extra.status == 422

    as_admin = await client.post(url, headers=await world.token(team.admin["username"]),
                                 json=good)
    assert as_admin.status == 201


async def test_listing_is_scoped_and_paginated(client: Client, team: Team,
                                               world: World) -> None:
    for n in range(3):
        await _register(client, team, serial=f"SN-{n}")
    stranger = await world.token(team.stranger["username"])
    resp = await client.post("/api/v1/devices", headers=stranger, json={
        "serial": "SN-OTHER", "kind": "scale", "patient_id": team.other_patient.id})
    assert resp.status == 201

    first = await (await client.get("/api/v1/devices?limit=2", headers=team.doctor_auth)).json()
    assert [d["serial"] for d in first["items"]] == ["SN-0", "SN-1"]
    second = await (await client.get(f"/api/v1/devices?limit=2&cursor={first['next_cursor']}",
                                     headers=team.doctor_auth)).json()
    assert [d["serial"] for d in second["items"]] == ["SN-2"]
    assert second["next_cursor"] is None

    mine = await client.get("/api/v1/devices", headers=await world.token(
        team.patient_user["username"]))
    assert {d["serial"] for d in (await mine.json())["items"]} == {"SN-0", "SN-1", "SN-2"}

    forbidden = await client.get(f"/api/v1/devices?patient={team.other_patient.id}",
                                 headers=team.doctor_auth)
    assert forbidden.status == 403
    other_items = await (await client.get("/api/v1/devices", headers=stranger)).json()
    assert [d["serial"] for d in other_items["items"]] == ["SN-OTHER"]
    everything = await client.get("/api/v1/devices",
                                  headers=await world.token(team.admin["username"]))
    assert len((await everything.json())["items"]) == 4


async def test_get_is_scoped(client: Client, team: Team, world: World) -> None:
    device_id = (await _register(client, team))["device_id"]
    own = await client.get(f"/api/v1/devices/{device_id}", headers=await world.token(
        team.patient_user["username"]))
    assert own.status == 200
    stranger = await client.get(f"/api/v1/devices/{device_id}",
                                headers=await world.token(team.stranger["username"]))
    assert stranger.status == 403
    missing = await client.get("/api/v1/devices/unknown", headers=team.doctor_auth)
    assert missing.status == 404


async def test_reassign(client: Client, team: Team, world: World) -> None:
    device_id = (await _register(client, team))["device_id"]
    second = await world.patient(team=[team.doctor["id"]])
    resp = await client.patch(f"/api/v1/devices/{device_id}", headers=team.doctor_auth,
                              json={"patient_id": second.id})
    assert resp.status == 200 and (await resp.json())["patient_id"] == second.id
    refused = await client.patch(f"/api/v1/devices/{device_id}", headers=team.doctor_auth,
                                 json={"patient_id": team.other_patient.id})
    assert refused.status == 403
    by_patient = await client.patch(f"/api/v1/devices/{device_id}", json={"patient_id": "x"},
                                    headers=await world.token(team.patient_user["username"]))
    assert by_patient.status == 403


async def test_revoke_disconnects_and_keeps_the_record(
    client: Client, team: Team, mqtt_client: MqttFactory
) -> None:
    body = await _register(client, team)
    device_id, password = body["device_id"], body["mqtt_password"]
    connected = await mqtt_client(device_id, password)

    resp = await client.delete(f"/api/v1/devices/{device_id}", headers=team.doctor_auth)
    assert resp.status == 200
    revoked = await resp.json()
    assert revoked["status"] == "revoked" and revoked["revoked_at"]
    await connected.wait_disconnected()
    await mqtt_client(device_id, password, expect_refusal=True)

    again = await client.delete(f"/api/v1/devices/{device_id}", headers=team.doctor_auth)
    assert again.status == 200
    still = await client.get(f"/api/v1/devices/{device_id}", headers=team.doctor_auth)
    assert (await still.json())["status"] == "revoked"
    rotate = await client.post(f"/api/v1/devices/{device_id}/credentials",
                               headers=team.doctor_auth)
    assert rotate.status == 409
    move = await client.patch(f"/api/v1/devices/{device_id}", headers=team.doctor_auth,
                              json={"patient_id": team.patient.id})
    assert move.status == 409


async def test_rotate_credentials(client: Client, team: Team, mqtt_client: MqttFactory,
                                  world: World) -> None:
    body = await _register(client, team)
    device_id, old = body["device_id"], body["mqtt_password"]
    connected = await mqtt_client(device_id, old)

    resp = await client.post(f"/api/v1/devices/{device_id}/credentials",
                             headers=team.doctor_auth)
    assert resp.status == 200
    new = (await resp.json())["mqtt_password"]
    assert new != old
    await connected.wait_disconnected()
    await mqtt_client(device_id, old, expect_refusal=True)
    await mqtt_client(device_id, new)

    stranger = await client.post(f"/api/v1/devices/{device_id}/credentials",
                                 headers=await world.token(team.stranger["username"]))
    assert stranger.status == 403


async def test_authenticate_device(client: Client, team: Team, app: web.Application) -> None:
    body = await _register(client, team)
    device_id, password = body["device_id"], body["mqtt_password"]
    async with app[keys.SESSIONS]() as session:
        found = await authenticate_device(session, device_id, password)
        assert found is not None and found.id == device_id
        assert await authenticate_device(session, device_id, "wrong") is None
        assert await authenticate_device(session, "unknown", password) is None
        assert await authenticate_device(session, "", password) is None
    await client.delete(f"/api/v1/devices/{device_id}", headers=team.doctor_auth)
    async with app[keys.SESSIONS]() as session:
        assert await authenticate_device(session, device_id, password) is None


async def test_broker_down_changes_nothing(client: Client, team: Team, broker: TestBroker,
                                           app: web.Application) -> None:
    app[BROKER].dynsec.timeout = 1.0
    await broker.crash()
    resp = await client.post("/api/v1/devices", headers=team.doctor_auth, json={
        "serial": "SN-DOWN", "kind": "scale", "patient_id": team.patient.id})
    assert resp.status == 503
    assert (await resp.json())["error"]["code"] == "broker_unavailable"
    async with app[keys.SESSIONS]() as session:
        assert (await session.exec(select(Device))).all() == []
    ready = await client.get("/readyz")
    assert ready.status == 503 and (await ready.json())["checks"]["broker"] == "down"

    await broker.start()
    assert (await _register(client, team, serial="SN-DOWN"))["serial"] == "SN-DOWN"


async def test_command_line_registration(broker_settings: Settings, team: Team,
                                         mqtt_client: MqttFactory) -> None:
    text = await commands.add_device(broker_settings, "CLI-1", "scale", team.patient.id)
    fields = {" ".join(line.split()[:2]): line.split()[-1] for line in text.splitlines()
              if line.startswith("  ")}
    device_id = fields["device id"]
    assert fields["MQTT username"] == fields["MQTT client"] == device_id
    assert f"telemed/v1/devices/{device_id}/readings" in text
    await mqtt_client(device_id, fields["MQTT password"])
    with pytest.raises(commands.CommandError, match="already registered"):
        await commands.add_device(broker_settings, "CLI-1", "scale", team.patient.id)
