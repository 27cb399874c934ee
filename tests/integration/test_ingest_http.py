"""POST /api/v1/devices/{id}/readings: the HTTP entry of the ingest pipeline."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from telemed import keys
from tests.conftest import World
from tests.integration.monitoring import (
    add_device,
    basic,
    now_s,
    observations,
    pack,
)

URL = "/api/v1/devices/{}/readings"


async def _setup(world: World) -> tuple[str, str]:
    doctor = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    device_id = await add_device(world.app, patient.id)
    return patient.id, device_id


async def test_pack_is_stored_in_canonical_units(client: TestClient[Any, Any],
                                                 world: World) -> None:
    patient_id, device_id = await _setup(world)
    t = math.ceil(now_s())
    body = pack(("blood_glucose", 5.5, "mmol/L", t), ("body_temp", 98.6, "[degF]", t),
                ("body_weight", 81200, "g", t), ("spo2", 0.97, "/", t))
    resp = await client.post(URL.format(device_id), data=body, headers=basic(device_id))
    assert resp.status == 200, await resp.text()
    assert await resp.json() == {"accepted": 4, "duplicates": 0, "rejected": []}
    stored = {o.metric: (o.value, o.unit) for o in await observations(world.app, patient_id)}
    assert stored == {"blood_glucose": (pytest.approx(99.088), "mg/dL"),
                      "body_temp": (37.0, "Cel"), "body_weight": (81.2, "kg"),
                      "spo2": (97.0, "%")}
    metrics = await (await client.get("/metrics")).text()
    assert 'telemed_readings_accepted_total{metric="spo2"} 1.0' in metrics


async def test_resent_pack_is_stored_once(client: TestClient[Any, Any], world: World) -> None:
    patient_id, device_id = await _setup(world)
    body = pack(("heart_rate", 72, "/min", math.ceil(now_s())))
    first = await client.post(URL.format(device_id), data=body, headers=basic(device_id))
    second = await client.post(URL.format(device_id), data=body, headers=basic(device_id))
    assert (await first.json())["accepted"] == 1
    assert await second.json() == {"accepted": 0, "duplicates": 1, "rejected": []}
    assert len(await observations(world.app, patient_id)) == 1


async def test_late_reading_is_accepted_and_marked(client: TestClient[Any, Any],
                                                   world: World) -> None:
    patient_id, device_id = await _setup(world)
    t = now_s()
    body = pack(("heart_rate", 70, "/min", t - 3 * 86400), ("heart_rate", 71, "/min", t))
    resp = await client.post(URL.format(device_id), data=body, headers=basic(device_id))
    assert (await resp.json())["accepted"] == 2
    late = [o.late for o in await observations(world.app, patient_id)]
    assert late == [True, False]
    page = await client.get(f"/api/v1/patients/{patient_id}/observations",
                            headers=await world.token((await world.user(
                                "patient", patient_id=patient_id))["username"]))
    assert [o["late"] for o in (await page.json())["items"]] == [False, True]


async def test_bad_records_are_answered_and_the_rest_stored(client: TestClient[Any, Any],
                                                            world: World) -> None:
    patient_id, device_id = await _setup(world)
    t = now_s()
    body = json.dumps([{"n": "heart_rate", "u": "/min", "v": 70, "t": t},
                       {"n": "heart_rate", "u": "furlongs", "v": 70, "t": t + 1},
                       {"n": "pulse_of_mars", "u": "/min", "v": 70, "t": t + 2},
                       {"n": "spo2", "u": "%", "v": 12, "t": t + 3},
                       {"n": "spo2", "u": "%", "v": 97, "t": t + 3600}]).encode()
    resp = await client.post(URL.format(device_id), data=body, headers=basic(device_id))
    data = await resp.json()
    assert resp.status == 200
    assert data["accepted"] == 1
    assert [(r["record_index"], r["code"]) for r in data["rejected"]] == [
        (1, "unknown_unit"), (2, "unknown_metric"), (3, "implausible"), (4, "future_time")]
    assert len(await observations(world.app, patient_id)) == 1
    metrics = await (await client.get("/metrics")).text()
    assert 'telemed_readings_rejected_total{code="unknown_unit"} 1.0' in metrics


async def test_malformed_pack_is_422_and_ingestion_goes_on(client: TestClient[Any, Any],
                                                           world: World) -> None:
    _patient_id, device_id = await _setup(world)
    resp = await client.post(URL.format(device_id), data=b"{not json",
                             headers=basic(device_id))
    assert resp.status == 422
    assert (await resp.json())["error"]["code"] == "invalid_json"
    resp = await client.post(URL.format(device_id),
                             data=pack(("heart_rate", 70, "/min", now_s())),
                             headers=basic(device_id))
    assert (await resp.json())["accepted"] == 1


@pytest.mark.parametrize("case", ["no_header", "wrong_password", "other_device", "unknown"])
async def test_device_credentials_are_required(client: TestClient[Any, Any], world: World,
                                               case: str) -> None:
    patient_id, device_id = await _setup(world)
    other = await add_device(world.app, patient_id)
    headers = {
        "no_header": {"Content-Type": "application/senml+json"},
        "wrong_password": basic(device_id, "nope-nope-nope"),
        "other_device": basic(other),
        "unknown": basic("f" * 32),
    }[case]
    target = "f" * 32 if case == "unknown" else device_id
    resp = await client.post(URL.format(target), data=pack(("heart_rate", 70, "/min", now_s())),
                             headers=headers)
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"].startswith("Basic")
    assert await observations(world.app, patient_id) == []


async def test_device_without_patient_stores_nothing(client: TestClient[Any, Any],
                                                     world: World) -> None:
    device_id = await add_device(world.app, None)
    resp = await client.post(URL.format(device_id),
                             data=pack(("heart_rate", 70, "/min", now_s())),
                             headers=basic(device_id))
    assert resp.status == 422
    assert (await resp.json())["error"]["code"] == "no_patient"


async def test_device_last_seen_and_battery_are_kept(client: TestClient[Any, Any],
                                                     world: World) -> None:
    from telemed.db.models import Device

    _patient_id, device_id = await _setup(world)
    await client.post(URL.format(device_id), data=pack(("battery", 41, "%EL", now_s())),
                      headers=basic(device_id))
    async with world.app[keys.SESSIONS]() as session:
        device = await session.get(Device, device_id)
    assert device is not None
    assert device.battery == 41
    assert device.status == "online"
    assert device.last_seen is not None
