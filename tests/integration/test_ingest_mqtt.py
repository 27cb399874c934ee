"""Ingest through a real Mosquitto: storage, dedup, errors topic, config, status, ACLs."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telemed import keys
from telemed.app import create_app
from telemed.bus import DEVICES
from telemed.db.models import Device
from telemed.ingest.mqtt import IngestMqttClient
from telemed.ingest.pipeline import PIPELINE
from telemed.settings import Settings, load_settings
from tests.broker_fixture import MqttFactory, TestMqttClient
from tests.conftest import World
from tests.helpers.waiting import eventually
from tests.integration.monitoring import alerts_of, now_s, observations, pack, register_on_broker
from tests.integration.sse import next_event

pytestmark = pytest.mark.broker

PREFIX = "telemed/v1/devices"


@pytest.fixture(params=["inline", "process"])
def app(request: pytest.FixtureRequest, broker_settings: Settings) -> web.Application:
    """The worker with its MQTT connection and decoding in its own process, and in a
    receiving process beside it (`Settings.ingest_receiver`)."""
    return create_app(load_settings(**{**broker_settings.model_dump(),
                                       "ingest_receiver": request.param}))


class Home:
    """A patient with a registered device connected to the broker."""

    async def build(self, world: World, mqtt_client: MqttFactory) -> Home:
        self.world = world
        self.doctor = await world.user("doctor")
        self.patient = await world.patient(team=[self.doctor["id"]])
        self.device_id, self.password = await self.register()
        self.mqtt = await mqtt_client(self.device_id, self.password)
        self.factory = mqtt_client
        ingest = world.app[PIPELINE].mqtt
        assert ingest is not None and await ingest.wait_connected(10)
        return self

    async def register(self) -> tuple[str, str]:
        return await register_on_broker(self.world.app, self.patient.id)

    def topic(self, leaf: str, device_id: str | None = None) -> str:
        return f"{PREFIX}/{device_id or self.device_id}/{leaf}"

    async def stored(self) -> int:
        return len(await observations(self.world.app, self.patient.id))


@pytest.fixture
async def home(world: World, mqtt_client: MqttFactory) -> Home:
    return await Home().build(world, mqtt_client)


async def test_published_readings_are_stored_once(client: TestClient[Any, Any],
                                                  home: Home) -> None:
    t = math.ceil(now_s())  # not before the device was assigned
    body = pack(("bp_systolic", 16.0, "kPa", t), ("bp_diastolic", 80, "mmHg", t),
                ("heart_rate", 70, "beat/min", t))
    await home.mqtt.publish(home.topic("readings"), body)
    await home.mqtt.publish(home.topic("readings"), body)  # re-sent by the device
    await eventually(lambda: _at_least(home, 3))
    await asyncio.sleep(0.3)
    stored = await observations(home.world.app, home.patient.id)
    assert sorted((o.metric, o.value, o.unit) for o in stored) == [
        ("bp_diastolic", 80.0, "mm[Hg]"), ("bp_systolic", pytest.approx(120.0099, abs=1e-3),
                                           "mm[Hg]"),
        ("heart_rate", 70.0, "/min")]
    async with home.world.app[keys.SESSIONS]() as session:
        device = await session.get(Device, home.device_id)
    assert device is not None and device.status == "online" and device.last_seen is not None


async def _at_least(home: Home, count: int) -> bool:
    return await home.stored() >= count


async def test_malformed_pack_is_answered_and_ingestion_continues(
        client: TestClient[Any, Any], home: Home) -> None:
    assert not (await home.mqtt.subscribe(home.topic("errors"))).is_failure
    await home.mqtt.publish(home.topic("readings"), b"\xff\xfe not a pack")
    error = json.loads((await home.mqtt.next_message()).payload)
    assert error == {"code": "not_utf8", "message": "The payload is not UTF-8 text.",
                     "record_index": None}
    t = now_s()
    bad_record = json.dumps([{"n": "heart_rate", "u": "/min", "v": 70, "t": t},
                             {"n": "spo2", "u": "%", "v": "high", "t": t}])
    await home.mqtt.publish(home.topic("readings"), bad_record)
    error = json.loads((await home.mqtt.next_message()).payload)
    assert (error["code"], error["record_index"]) == ("invalid_field", 1)
    await eventually(lambda: _at_least(home, 1))
    metrics = await (await client.get("/metrics")).text()
    assert 'telemed_readings_rejected_total{code="not_utf8"} 1.0' in metrics


async def test_device_cannot_publish_for_another_device(client: TestClient[Any, Any],
                                                        home: Home) -> None:
    other_id, _password = await home.register()
    await home.mqtt.publish(home.topic("readings", other_id),
                            pack(("heart_rate", 70, "/min", now_s())))
    await home.mqtt.publish(home.topic("readings"), pack(("heart_rate", 71, "/min", now_s())))
    await eventually(lambda: _at_least(home, 1))
    await asyncio.sleep(0.3)
    stored = await observations(home.world.app, home.patient.id)
    assert [(o.device_id, o.value) for o in stored] == [(home.device_id, 71.0)]


async def test_out_of_band_reading_reaches_the_alert_stream(client: TestClient[Any, Any],
                                                            world: World, home: Home) -> None:
    resp = await client.get("/api/v1/alerts/stream",
                            headers=await world.token(home.doctor["username"]))
    await asyncio.sleep(0.1)
    await home.mqtt.publish(home.topic("readings"), pack(("spo2", 87, "%", now_s())))
    event = await next_event(resp)
    assert (event.data["metric"], event.data["severity"]) == ("spo2", "critical")
    assert [a.id for a in await alerts_of(world.app, home.patient.id)] == [event.data["id"]]
    resp.close()


async def test_status_topic_keeps_device_status(client: TestClient[Any, Any],
                                                home: Home) -> None:
    await home.mqtt.publish(home.topic("status"), b"offline", retain=True)

    async def offline() -> bool:
        async with home.world.app[keys.SESSIONS]() as session:
            device = await session.get(Device, home.device_id)
        return device is not None and device.status == "offline"

    await eventually(offline)


async def test_config_is_published_retained_on_device_events(
        client: TestClient[Any, Any], world: World, home: Home) -> None:
    from tests.integration.monitoring import add_plan

    await add_plan(world.app, home.patient.id, home.doctor["id"], {"monitoring": [
        {"metric": "body_weight", "schedule": {"times": ["08:00"], "tolerance_minutes": 60}}]})
    await world.app[keys.BUS].publish(DEVICES, {"device_id": home.device_id,
                                                "patient_id": home.patient.id})
    await asyncio.sleep(0.5)
    assert not (await home.mqtt.subscribe(home.topic("config"))).is_failure
    message = await home.mqtt.next_message()
    assert message.retain
    config = json.loads(message.payload)
    assert config["measurements"] == [{"metric": "body_weight", "times": ["08:00"],
                                       "tolerance_minutes": 60}]
    assert config["timezone"] == "Europe/Rome"


def _malformed_packs(count: int) -> list[bytes]:
    """Hypothesis-generated payloads: broken JSON, wrong shapes, wrong fields, wild values."""
    scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                       st.text(max_size=8))
    field = st.sampled_from(["n", "u", "v", "t", "bn", "bt", "bu", "bv", "bver", "vs", "s",
                             "x_", "vb"])
    record = st.dictionaries(field, st.one_of(scalar, st.sampled_from(
        ["heart_rate", "spo2", "%", "/min", "Cel", "kPa", 1e300, -1, 2**40])), max_size=6)
    json_pack = st.lists(st.one_of(record, scalar), max_size=6).map(
        lambda v: json.dumps(v, allow_nan=True).encode())
    payload = st.one_of(json_pack, st.binary(max_size=64),
                        st.recursive(scalar, lambda c: st.lists(c, max_size=3), max_leaves=6)
                        .map(lambda v: json.dumps(v).encode()))
    found: list[bytes] = []

    @settings(max_examples=count, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(payload)
    def collect(p: bytes) -> None:
        found.append(p)

    collect()
    return found


async def test_fuzzed_packs_never_stop_ingestion(client: TestClient[Any, Any],
                                                 home: Home) -> None:
    packs = _malformed_packs(2000)
    assert len(packs) > 1000
    device: TestMqttClient = home.mqtt
    async with asyncio.timeout(60):
        for i, payload in enumerate(packs):
            device.client.publish(home.topic("readings"), payload, qos=1)
            if i % 200 == 0:
                await device.publish(home.topic("readings"), payload)  # keep pace
        before = await home.stored()
        await device.publish(home.topic("readings"),
                             pack(("heart_rate", 64.5, "/min", now_s() + 1)))
        await eventually(lambda: _at_least(home, before + 1), seconds=30)
    stored = await observations(home.world.app, home.patient.id)
    assert any(o.value == 64.5 for o in stored)


async def test_a_new_device_whose_clock_runs_behind_keeps_its_first_readings(
        client: TestClient[Any, Any], home: Home) -> None:
    """The first assignment opens 5 minutes before registration (clock skew); earlier
    readings are still refused as taken before the device was anyone's."""
    assert not (await home.mqtt.subscribe(home.topic("errors"))).is_failure
    t = now_s()
    await home.mqtt.publish(home.topic("readings"),
                            pack(("heart_rate", 71, "/min", t - 120)))
    await eventually(lambda: _at_least(home, 1))
    await home.mqtt.publish(home.topic("readings"),
                            pack(("heart_rate", 72, "/min", t - 600)))
    error = json.loads((await home.mqtt.next_message()).payload)
    assert (error["code"], error["record_index"]) == ("before_assignment", 0)
    stored = await observations(home.world.app, home.patient.id)
    assert [o.value for o in stored] == [71.0]


@pytest.mark.parametrize("app", ["inline"], indirect=True)  # a receiver sends with the same
async def test_a_bulk_send_keeps_one_window_in_flight(client: TestClient[Any, Any],
                                                      world: World) -> None:
    """Every device's config at start goes a window at a time: paho walks every message it
    holds on each PUBACK, so thousands at once cost the square of their number."""
    ingest = world.app[PIPELINE].mqtt
    assert isinstance(ingest, IngestMqttClient) and await ingest.wait_connected(10)
    infos: list[Any] = []
    publish = ingest.publish

    def recording(*args: Any, **kwargs: Any) -> Any:
        infos.append(publish(*args, **kwargs))
        return infos[-1]

    ingest.publish = recording  # type: ignore[method-assign]
    most = 0

    def configs() -> Any:
        nonlocal most
        for n in range(250):
            most = max(most, sum(not info.is_published() for info in infos))
            yield f"{PREFIX}/bulk-{n}/config", json.dumps({"n": n})

    assert await ingest.publish_paced(configs(), window=100) == 250
    assert len(infos) == 250 and 0 < most < 100

    async def all_acknowledged() -> bool:
        return all(info.is_published() for info in infos)

    await eventually(all_acknowledged)
