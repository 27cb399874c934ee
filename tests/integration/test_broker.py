"""The private broker, dynamic security and device isolation, against a real Mosquitto."""

from __future__ import annotations

import json
import stat
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from telemed.broker import identities
from telemed.broker.dynsec import DynSecError
from telemed.broker.probe import can_login
from telemed.broker.topics import SHARED_READINGS, DeviceTopics
from tests.broker_fixture import MqttFactory, TestBroker

pytestmark = pytest.mark.broker

PASSWORD = "device-password-0123456789"


@pytest.fixture
def app(broker_app: web.Application) -> web.Application:
    return broker_app


async def _ingest(broker: TestBroker, mqtt_client: MqttFactory) -> Any:
    """A connected ingest client subscribed like the ingest workers."""
    ingest = await mqtt_client(broker.info.ingest_username, broker.info.ingest_password,
                               client_id="test-ingest")
    assert not (await ingest.subscribe(SHARED_READINGS)).is_failure
    assert not (await ingest.subscribe("telemed/v1/devices/+/status")).is_failure
    return ingest


async def test_private_broker_files_are_private(broker: TestBroker) -> None:
    directory = broker.data_dir / "broker"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for name in ("credentials.json", "dynsec.json"):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600
    conf = (directory / "mosquitto.conf").read_text()
    assert f"listener {broker.info.port} 127.0.0.1" in conf
    assert "allow_anonymous false" in conf
    assert "persistence true" in conf
    assert "plugin_opt_config_file" in conf
    dynsec = json.loads((directory / "dynsec.json").read_text())
    assert dynsec["defaultACLAccess"]["publishClientSend"] is False
    assert dynsec["defaultACLAccess"]["subscribe"] is False
    assert broker.info.admin_password not in (directory / "dynsec.json").read_text()


async def test_broker_info_never_shows_passwords(broker: TestBroker) -> None:
    text = repr(broker.info)
    assert broker.info.admin_password not in text
    assert broker.info.ingest_password not in text
    assert str(broker.info.port) in text


async def test_anonymous_and_unknown_clients_are_refused(broker: TestBroker) -> None:
    assert not await can_login(broker.info.host, broker.info.port, "nobody", "nothing")
    assert await can_login(broker.info.host, broker.info.port, broker.info.ingest_username,
                           broker.info.ingest_password)


async def test_device_publishes_readings_and_receives_config(
    broker: TestBroker, mqtt_client: MqttFactory
) -> None:
    await identities.create_device(broker.dynsec, "dev-a", PASSWORD)
    topics = DeviceTopics.of("dev-a")
    ingest = await _ingest(broker, mqtt_client)
    await ingest.publish(topics.config, b'{"measurements": []}', retain=True)

    device = await mqtt_client("dev-a", PASSWORD)
    assert not (await device.subscribe(topics.config)).is_failure
    assert not (await device.subscribe(topics.errors)).is_failure
    config = await device.next_message()
    assert (config.topic, config.payload, config.retain) == (topics.config,
                                                             b'{"measurements": []}', True)

    await device.publish(topics.readings, b'[{"n":"spo2","u":"%","v":97}]')
    got = await ingest.next_message()
    assert (got.topic, got.payload) == (topics.readings, b'[{"n":"spo2","u":"%","v":97}]')

    await ingest.publish(topics.errors, b'{"code":"x","message":"y","record_index":0}')
    error = await device.next_message()
    assert error.topic == topics.errors


async def test_device_cannot_touch_another_device(
    broker: TestBroker, mqtt_client: MqttFactory
) -> None:
    await identities.create_device(broker.dynsec, "dev-a", PASSWORD)
    await identities.create_device(broker.dynsec, "dev-b", PASSWORD)
    other = DeviceTopics.of("dev-b")
    ingest = await _ingest(broker, mqtt_client)
    intruder = await mqtt_client("dev-a", PASSWORD)

    # Accepted on the wire (QoS 1 is acknowledged) but never delivered.
    await intruder.publish(other.readings, b'[{"n":"spo2","u":"%","v":50}]')
    await intruder.publish(other.status, b"offline", retain=True)
    await intruder.publish("telemed/v1/devices/dev-a/config", b"{}")
    await ingest.no_message(0.5)

    for topic in (other.config, other.errors, other.readings, "telemed/v1/devices/+/config",
                  "telemed/#", "#"):
        assert (await intruder.subscribe(topic)).is_failure, topic


async def test_device_must_use_its_own_client_id(
    broker: TestBroker, mqtt_client: MqttFactory
) -> None:
    await identities.create_device(broker.dynsec, "dev-a", PASSWORD)
    await mqtt_client("dev-a", PASSWORD, client_id="someone-else", expect_refusal=True)
    await mqtt_client("dev-a", "wrong-password", expect_refusal=True)


async def test_rotation_refuses_the_old_password_at_once(
    broker: TestBroker, mqtt_client: MqttFactory
) -> None:
    await identities.create_device(broker.dynsec, "dev-a", PASSWORD)
    connected = await mqtt_client("dev-a", PASSWORD)
    await identities.set_device_password(broker.dynsec, "dev-a", "new-password-0123456789")
    await connected.wait_disconnected()
    await mqtt_client("dev-a", PASSWORD, client_id="dev-a", expect_refusal=True)
    await mqtt_client("dev-a", "new-password-0123456789")


async def test_revocation_disconnects_and_refuses(
    broker: TestBroker, mqtt_client: MqttFactory
) -> None:
    await identities.create_device(broker.dynsec, "dev-a", PASSWORD)
    connected = await mqtt_client("dev-a", PASSWORD)
    await identities.delete_device(broker.dynsec, "dev-a")
    await connected.wait_disconnected()
    await mqtt_client("dev-a", PASSWORD, expect_refusal=True)
    assert await broker.dynsec.get_role("device-dev-a") is None
    await identities.delete_device(broker.dynsec, "dev-a")  # idempotent


async def test_dynsec_errors_carry_the_broker_text(broker: TestBroker) -> None:
    with pytest.raises(DynSecError) as raised:
        await broker.dynsec.create_client("x", "y", roles=["no-such-role"])
    assert raised.value.error == "Role not found"
    assert raised.value.command == "createClient"
    assert await broker.dynsec.get_client("x") is None


async def test_device_identity_survives_a_restart_and_a_crash(
    broker: TestBroker, mqtt_client: MqttFactory
) -> None:
    await identities.create_device(broker.dynsec, "dev-a", PASSWORD)
    first_pid = broker.pid
    await broker.restart()
    await broker.kill()
    assert broker.pid != first_pid
    assert broker.supervisor.restarts >= 1
    await mqtt_client("dev-a", PASSWORD)
    assert broker.handle.healthy


async def test_ensure_ingest_repairs_a_changed_password(broker: TestBroker) -> None:
    await broker.dynsec.set_client_password(broker.info.ingest_username, "tampered-123456")
    assert not await can_login(broker.info.host, broker.info.port,
                               broker.info.ingest_username, broker.info.ingest_password)
    await identities.ensure_ingest(broker.dynsec, broker.info)
    await identities.ensure_ingest(broker.dynsec, broker.info)
    assert await can_login(broker.info.host, broker.info.port, broker.info.ingest_username,
                           broker.info.ingest_password)


async def test_ingest_may_only_use_its_topics(
    broker: TestBroker, mqtt_client: MqttFactory
) -> None:
    ingest = await _ingest(broker, mqtt_client)
    assert not (await ingest.subscribe("telemed/v1/devices/+/readings")).is_failure
    for topic in ("$CONTROL/dynamic-security/#", "telemed/#", "telemed/v1/devices/+/config",
                  "$share/other-group/telemed/v1/devices/+/readings"):
        assert (await ingest.subscribe(topic)).is_failure, topic


async def test_readyz_reports_the_broker(client: TestClient[Any, Any],
                                         broker: TestBroker) -> None:
    resp = await client.get("/readyz")
    assert resp.status == 200
    assert (await resp.json())["checks"]["broker"] == "ok"
