"""Attribution by assignment time and retained readings, through a real Mosquitto (#10).

- MQTT ingest: a reading replayed after the device moved goes to the patient who had it;
  one from before any assignment is answered on the device's ``errors`` topic with a code.
- The reference device's offline buffer (`devices.client.DeviceClient`) replayed after a
  reassignment, with the device moved while packs were waiting.
- Revocation closes the device's interval.
- A retained publish on ``readings`` (MQTT 5 and 3.1.1 devices) is stored once, and not again
  when the ingest worker reconnects or restarts.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from devices.buffer import PackBuffer
from devices.client import DeviceClient
from devices.profiles import Reading
from telemed import keys
from telemed.db.models import Patient
from telemed.ingest.mqtt import IngestMqttClient
from telemed.ingest.pipeline import PIPELINE
from telemed.ingest.setup import broker_address
from tests.broker_fixture import MqttFactory, TestBroker
from tests.conftest import World
from tests.helpers.waiting import eventually
from tests.integration.monitoring import observations, register_on_broker

pytestmark = pytest.mark.broker

PREFIX = "telemed/v1/devices"


@pytest.fixture
def app(broker_app: web.Application) -> web.Application:
    return broker_app


class Homes:
    """Patients A and B of one doctor; device D registered for A an hour and a half ago."""

    async def build(self, world: World) -> Homes:
        self.world = world
        self.doctor = await world.user("doctor")
        self.a = await world.patient(team=[self.doctor["id"]])
        self.b = await world.patient(team=[self.doctor["id"]])
        self.headers = await world.token(self.doctor["username"])
        self.device, self.password = await self.register(
            datetime.now(UTC) - timedelta(minutes=90))
        return self

    async def register(self, since: datetime | None) -> tuple[str, str]:
        return await register_on_broker(self.world.app, self.a.id, assigned_from=since)

    async def move(self, patient: Patient) -> None:
        resp = await self.world.client.patch(f"/api/v1/devices/{self.device}",
                                             json={"patient_id": patient.id},
                                             headers=self.headers)
        assert resp.status == 200, await resp.text()

    async def values(self, patient: Patient) -> list[float]:
        return [o.value for o in await observations(self.world.app, patient.id)]

    def topic(self, leaf: str) -> str:
        return f"{PREFIX}/{self.device}/{leaf}"


@pytest.fixture
async def homes(world: World) -> Homes:
    return await Homes().build(world)


def senml(*records: tuple[str, float, str, float]) -> bytes:
    return json.dumps([{"n": m, "u": u, "v": v, "t": t} for m, v, u, t in records]).encode()


async def test_mqtt_reading_replayed_after_the_move_is_filed_for_the_patient_who_took_it(
        client: TestClient[Any, Any], homes: Homes, mqtt_client: MqttFactory) -> None:
    device = await mqtt_client(homes.device, homes.password)
    t = datetime.now(UTC).timestamp()
    await device.publish(homes.topic("readings"), senml(("heart_rate", 61, "/min", t - 3600)))
    await eventually(lambda: _count(homes, homes.a, 1))
    await homes.move(homes.b)
    await device.publish(homes.topic("readings"), senml(("heart_rate", 62, "/min", t - 3000)))
    # taken after the move (a slow first delivery may leave `t` before it)
    after = datetime.now(UTC).timestamp()
    await device.publish(homes.topic("readings"), senml(("heart_rate", 63, "/min", after)))
    await eventually(lambda: _count(homes, homes.b, 1))
    await eventually(lambda: _count(homes, homes.a, 2))
    assert await homes.values(homes.a) == [61, 62]
    assert await homes.values(homes.b) == [63]


async def test_mqtt_reading_before_any_assignment_is_answered_on_errors(
        client: TestClient[Any, Any], homes: Homes, mqtt_client: MqttFactory) -> None:
    device = await mqtt_client(homes.device, homes.password)
    assert not (await device.subscribe(homes.topic("errors"))).is_failure
    t = datetime.now(UTC).timestamp()
    await device.publish(homes.topic("readings"),
                         senml(("heart_rate", 70, "/min", t - 7200),  # before registration
                               ("heart_rate", 71, "/min", t)))
    error = json.loads((await device.next_message()).payload)
    assert (error["code"], error["record_index"]) == ("before_assignment", 0)
    await eventually(lambda: _count(homes, homes.a, 1))
    assert await homes.values(homes.a) == [71]


async def test_offline_buffer_replayed_after_a_reassignment(
        client: TestClient[Any, Any], homes: Homes, broker: TestBroker,
        tmp_path: Path) -> None:
    """Packs the device kept while offline, some from before and one from after the move."""
    async with PackBuffer(tmp_path / "outbox.db") as buffer:
        device = DeviceClient(homes.device, homes.password, broker.info.host,
                              broker.info.port, buffer=buffer, reconnect_max=1.0)
        now = datetime.now(UTC)
        for minutes, value in ((60, 81), (50, 82), (40, 83)):  # taken while it was A's
            await device.send([Reading("heart_rate", value, "/min",
                                       now - timedelta(minutes=minutes))])
        await homes.move(homes.b)  # mid-buffer: the device is offline meanwhile
        await device.send([Reading("heart_rate", 84, "/min", datetime.now(UTC))])  # B's
        assert await buffer.count(homes.device) == 4
        await device.start()
        try:
            await device.wait_connected()
            await device.wait_delivered(15)
            await eventually(lambda: _count(homes, homes.b, 1))
            await eventually(lambda: _count(homes, homes.a, 3))
        finally:
            await device.close()
    assert await homes.values(homes.a) == [81, 82, 83]
    assert await homes.values(homes.b) == [84]


async def test_revocation_closes_the_interval(client: TestClient[Any, Any],
                                              homes: Homes) -> None:
    resp = await client.delete(f"/api/v1/devices/{homes.device}", headers=homes.headers)
    assert resp.status == 200, await resp.text()
    got = await client.get(f"/api/v1/devices/{homes.device}", headers=homes.headers)
    [only] = (await got.json())["assignments"]
    revoked = (await resp.json())["revoked_at"]
    assert only["patient_id"] == homes.a.id and only["until"] == revoked


# --- retained readings ------------------------------------------------------------------


async def _count(homes: Homes, patient: Patient, count: int) -> bool:
    return len(await observations(homes.world.app, patient.id)) >= count


async def _restart_ingest(app: web.Application) -> IngestMqttClient:
    """Stop the worker's MQTT client and start a new one with the same persistent session."""
    pipeline = app[PIPELINE]
    old = pipeline.mqtt
    assert old is not None
    await old.stop()
    address = broker_address(app)
    assert address is not None
    fresh = IngestMqttClient(address, app[keys.SETTINGS].ingest_client_id or
                             old._client_id, pipeline.on_mqtt_message,
                             shared=old._readings_filter.startswith("$share"))
    pipeline.mqtt = fresh
    fresh.start()
    assert await fresh.wait_connected(10)
    return fresh


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_a_retained_reading_is_stored_once_across_ingest_restarts(
        client: TestClient[Any, Any], homes: Homes, mqtt_client: MqttFactory,
        protocol: str) -> None:
    app = homes.world.app
    device = await mqtt_client(homes.device, homes.password, mqtt5=protocol == "5")
    # a relative time: "now" for whoever receives it, so a replay would get a new time
    body = json.dumps([{"n": "heart_rate", "u": "/min", "v": 77, "t": 0}]).encode()
    await device.publish(homes.topic("readings"), body, retain=True)
    await eventually(lambda: _count(homes, homes.a, 1))
    restarted: list[IngestMqttClient] = []
    for _ in range(2):
        restarted.append(await _restart_ingest(app))
        await asyncio.sleep(0.5)  # a retained copy would arrive right after SUBACK
    # the live path still works after the restarts, and the retained copy was never stored
    await device.publish(homes.topic("readings"),
                         senml(("heart_rate", 78, "/min", datetime.now(UTC).timestamp())))
    await eventually(lambda: _count(homes, homes.a, 2))
    await asyncio.sleep(0.3)
    assert await homes.values(homes.a) == [77, 78]
    await restarted[-1].stop()


async def test_device_add_on_the_command_line_takes_since(
        client: TestClient[Any, Any], world: World, broker_settings: Any) -> None:
    from telemed import commands
    from telemed.cli import _parser

    patient = await world.patient()
    since = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)
    args = _parser().parse_args(["device", "add", "SN-CLI-SINCE", "--kind", "scale",
                                 "--patient", patient.id, "--since", since.isoformat()])
    assert args.assigned_from == since
    with pytest.raises(SystemExit):  # a time without its offset is refused
        _parser().parse_args(["device", "add", "SN-X", "--kind", "scale", "--patient",
                              patient.id, "--since", "2026-12-01T08:00:00"])
    text = await commands.add_device(broker_settings, "SN-CLI-SINCE", "scale", patient.id,
                                     args.assigned_from)
    assert f"since {since.isoformat()}" in text
    device_id = text.split("device id", 1)[1].split()[0]
    resp = await client.get(f"/api/v1/devices/{device_id}",
                            headers=await world.token((await world.user("admin"))["username"]))
    assert resp.status == 200, await resp.text()
    [only] = (await resp.json())["assignments"]
    assert (only["patient_id"], datetime.fromisoformat(only["from"])) == (patient.id, since)
    with pytest.raises(commands.CommandError, match="assigned_from"):
        await commands.add_device(broker_settings, "SN-CLI-OLD", "scale", patient.id,
                                  datetime.now(UTC) - timedelta(days=31))
