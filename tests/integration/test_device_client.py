"""The home-device client and simulator against a real Mosquitto."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devices.buffer import PackBuffer
from devices.client import DeviceClient
from devices.profiles import DeviceProfile, Reading
from devices.simulator import DeviceCredentials, SimulationOptions, Simulator
from telemed.broker import identities
from telemed.broker.dynsec import Acl
from telemed.broker.topics import ALL_READINGS, SHARED_READINGS, DeviceTopics
from telemed.domain.senml import decode_pack
from tests.broker_fixture import MqttFactory, TestBroker, TestMqttClient

pytestmark = pytest.mark.broker

PASSWORD = "device-password-0123456789"


@pytest.fixture
async def buffer(tmp_path: Path) -> AsyncIterator[PackBuffer]:
    async with PackBuffer(tmp_path / "outbox.db") as opened:
        yield opened


async def _persistent_observer(broker: TestBroker, mqtt_client: MqttFactory) -> TestMqttClient:
    """A persistent-session subscriber to every device's readings.

    Not the ingest workers' shared subscription: Mosquitto 2.0 forgets a shared subscription
    of an offline session when it restarts, and this test restarts the broker.
    """
    if await broker.dynsec.get_role("test-observer") is None:
        await broker.dynsec.create_role("test-observer", [
            Acl("subscribePattern", ALL_READINGS), Acl("publishClientReceive", ALL_READINGS)])
        await broker.dynsec.create_client("test-observer", PASSWORD, roles=["test-observer"])
    observer = await mqtt_client("test-observer", PASSWORD, client_id="test-observer",
                                 clean=False)
    assert not (await observer.subscribe(ALL_READINGS, qos=1)).is_failure
    return observer


async def _shared_ingest(broker: TestBroker, mqtt_client: MqttFactory) -> TestMqttClient:
    ingest = await mqtt_client(broker.info.ingest_username, broker.info.ingest_password,
                               client_id="test-ingest-persistent", clean=False)
    assert not (await ingest.subscribe(SHARED_READINGS, qos=1)).is_failure
    return ingest


def _pack(n: int) -> list[Reading]:
    at = datetime.now(UTC) - timedelta(hours=1) + timedelta(minutes=n)
    return [Reading("heart_rate", 60 + n, "/min", at)]


def _heart_rates(payloads: list[bytes]) -> list[float]:
    received = datetime.now(UTC)
    return [r.value for p in payloads for r in decode_pack(p, received).readings]


async def _collect(sub: TestMqttClient, count: int) -> list[bytes]:
    return [(await sub.next_message(10)).payload for _ in range(count)]


async def test_offline_buffer_keeps_packs_until_the_broker_is_back(
    broker: TestBroker, mqtt_client: MqttFactory, buffer: PackBuffer
) -> None:
    await identities.create_device(broker.dynsec, "dev-a", PASSWORD)
    observer = await _persistent_observer(broker, mqtt_client)
    device = DeviceClient("dev-a", PASSWORD, broker.info.host, broker.info.port,
                          buffer=buffer, reconnect_max=1.0)
    await device.start()
    await device.wait_connected()
    for n in range(3):
        await device.send(_pack(n))
    assert _heart_rates(await _collect(observer, 3)) == [60, 61, 62]
    await device.wait_delivered()

    await broker.stop()
    for n in range(3, 8):
        await device.send(_pack(n))
    await asyncio.sleep(0.3)
    assert not device.connected
    assert await buffer.count("dev-a") == 5
    await device.close()  # the device restarts too: the outbox is on disk

    await broker.start()
    device = DeviceClient("dev-a", PASSWORD, broker.info.host, broker.info.port,
                          buffer=buffer, reconnect_max=1.0)
    await device.start()
    await device.wait_connected(15)
    await device.wait_delivered(15)
    assert await buffer.count("dev-a") == 0

    again = await _persistent_observer(broker, mqtt_client)
    fresh: list[float] = []
    while len(fresh) < 5:  # QoS 1 may redeliver the last message acknowledged before the stop
        fresh += [v for v in _heart_rates(await _collect(again, 1)) if v >= 63]
    assert fresh == [63, 64, 65, 66, 67]
    await device.close()


async def test_packs_nobody_took_are_sent_again(broker: TestBroker, mqtt_client: MqttFactory,
                                                buffer: PackBuffer) -> None:
    """MQTT 5: a PUBACK saying "no matching subscribers" keeps the pack in the outbox."""
    await identities.create_device(broker.dynsec, "dev-a", PASSWORD)
    device = DeviceClient("dev-a", PASSWORD, broker.info.host, broker.info.port,
                          buffer=buffer)
    assert device.protocol == "5"
    await device.start()
    await device.wait_connected()
    for n in range(4):
        await device.send(_pack(n))
    async with asyncio.timeout(5):
        while device.stats.deferred < 4:  # noqa: ASYNC110 - the PUBACKs count
            await asyncio.sleep(0.02)
    assert device.stats.acked == 0
    assert await buffer.count("dev-a") == 4

    ingest = await _shared_ingest(broker, mqtt_client)  # the platform is listening again
    await device.wait_delivered(20)
    assert await buffer.count("dev-a") == 0
    assert device.stats.refused == 0
    values = _heart_rates(await _collect(ingest, 4))
    assert values == [60, 61, 62, 63]  # in order, once each
    await ingest.no_message(0.3)
    await device.close()


async def test_protocol_311_takes_the_puback_at_its_word(
        broker: TestBroker, buffer: PackBuffer) -> None:
    """MQTT 3.1.1 has no reason codes: with nobody subscribed the pack is gone."""
    await identities.create_device(broker.dynsec, "dev-b", PASSWORD)
    device = DeviceClient("dev-b", PASSWORD, broker.info.host, broker.info.port,
                          buffer=buffer, protocol="3.1.1")
    await device.start()
    await device.wait_connected()
    await device.send(_pack(1))
    await device.wait_delivered(5)
    assert (device.stats.acked, device.stats.deferred) == (1, 0)
    assert await buffer.count("dev-b") == 0
    await device.close()


async def test_status_config_and_errors(broker: TestBroker, mqtt_client: MqttFactory,
                                        buffer: PackBuffer) -> None:
    await identities.create_device(broker.dynsec, "dev-a", PASSWORD)
    topics = DeviceTopics.of("dev-a")
    ingest = await mqtt_client(broker.info.ingest_username, broker.info.ingest_password,
                               client_id="test-ingest")
    assert not (await ingest.subscribe(topics.status)).is_failure
    await ingest.publish(topics.config, json.dumps({"measurements": []}), retain=True)

    configs: list[Any] = []
    errors: list[Any] = []
    got_config, got_error = asyncio.Event(), asyncio.Event()

    def on_config(body: Any) -> None:
        configs.append(body)
        got_config.set()

    def on_error(body: Any) -> None:
        errors.append(body)
        got_error.set()

    device = DeviceClient("dev-a", PASSWORD, broker.info.host, broker.info.port,
                          buffer=buffer, on_config=on_config, on_error=on_error,
                          reconnect_min=0.2)
    await device.start()
    await device.wait_connected()
    assert (await ingest.next_message()).payload == b"online"
    async with asyncio.timeout(5):
        await got_config.wait()
    assert configs == [{"measurements": []}] and device.config == configs[0]

    await ingest.publish(topics.errors, json.dumps({"code": "implausible", "message": "m",
                                                    "record_index": 0}))
    async with asyncio.timeout(5):
        await got_error.wait()
    assert errors[0]["code"] == "implausible"

    device.kill()  # no DISCONNECT: the broker publishes the will
    assert (await ingest.next_message()).payload == b"offline"
    assert (await ingest.next_message()).payload == b"online"  # it reconnected by itself
    await device.close()
    assert (await ingest.next_message()).payload == b"offline"


async def test_refused_device_keeps_its_packs(broker: TestBroker, buffer: PackBuffer) -> None:
    device = DeviceClient("ghost", PASSWORD, broker.info.host, broker.info.port,
                          buffer=buffer, reconnect_min=0.1, reconnect_max=0.2)
    await device.start()
    await device.send(_pack(1))
    await asyncio.sleep(0.5)
    assert not device.connected
    assert device.last_error is not None and "refused" in device.last_error
    assert await buffer.count("ghost") == 1
    await device.close()


async def test_simulator_delivers_every_pack(broker: TestBroker, mqtt_client: MqttFactory,
                                             tmp_path: Path) -> None:
    devices = []
    for n, kind in enumerate(("bp_cuff", "scale", "multi")):
        await identities.create_device(broker.dynsec, f"sim-{n}", PASSWORD)
        devices.append(DeviceCredentials(f"sim-{n}", PASSWORD, kind, "copd_falling_spo2"))
    ingest = await _shared_ingest(broker, mqtt_client)
    options = SimulationOptions(host=broker.info.host, port=broker.info.port, rate=20,
                                duration=1.5, time_scale=240,
                                buffer_path=tmp_path / "sim.db")
    report = await Simulator(devices, options).run()
    assert report.packs >= 3 * 20
    assert report.acked == report.packs and report.left_in_buffer == 0
    payloads = await _collect(ingest, report.packs)
    readings = [r for p in payloads for r in decode_pack(p, datetime.now(UTC)).readings]
    assert len(readings) == report.readings
    assert all(r.time <= datetime.now(UTC) for r in readings)
    assert min(r.time for r in readings) < datetime.now(UTC) - timedelta(minutes=4)


def test_profile_packs_are_what_the_client_sends() -> None:
    profile = DeviceProfile("scale", seed=1, start=datetime(2026, 3, 1, tzinfo=UTC))
    readings = profile.measure(datetime(2026, 3, 2, 7, tzinfo=UTC))
    assert [r.metric for r in readings] == ["body_weight", "battery"]
