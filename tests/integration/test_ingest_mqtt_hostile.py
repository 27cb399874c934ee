"""Hostile SenML over MQTT: refused with a reason on the errors topic, ingestion goes on."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.broker_fixture import MqttFactory
from tests.conftest import World
from tests.integration.monitoring import now_s, observations, pack, register_on_broker

pytestmark = pytest.mark.broker

PREFIX = "telemed/v1/devices"


@pytest.fixture
def app(broker_app: web.Application) -> web.Application:
    return broker_app


async def test_deep_surrogate_and_duplicate_packs_get_a_reason(
    client: TestClient[Any, Any], world: World, mqtt_client: MqttFactory
) -> None:
    doctor = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    device_id, password = await register_on_broker(world.app, patient.id)
    device = await mqtt_client(device_id, password)
    base = f"{PREFIX}/{device_id}"
    assert not (await device.subscribe(f"{base}/errors")).is_failure
    for payload, code in (
        (b"[" * 50_000 + b"]" * 50_000, "invalid_json"),
        (b'[{"n":"heart_rate\\ud800","u":"/min","v":70}]', "invalid_unicode"),
        (b'[{"n":"heart_rate","u":"/min","v":70,"v":200}]', "duplicate_key"),
    ):
        await device.publish(f"{base}/readings", payload)
        error = json.loads((await device.next_message()).payload)
        assert (error["code"], error["record_index"]) == (code, None)
    await device.publish(f"{base}/readings", pack(("heart_rate", 72, "/min", now_s())))
    for _ in range(200):
        if await observations(world.app, patient.id):
            break
        await asyncio.sleep(0.05)
    assert [o.value for o in await observations(world.app, patient.id)] == [72.0]
