"""FHIR Schedule and Slot (validated with fhir.resources): hours, free and busy slots."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import World
from tests.helpers.booking import ahead, open_clinic, patient_user, slots
from tests.unit.fhir.validation import validate

BASE = "/fhir/R4"


async def _get(client: TestClient[Any, Any], path: str, headers: dict[str, str],
               expect: int = 200, **params: str) -> dict[str, Any]:
    resp = await client.get(path, headers=headers, params=params)
    assert resp.status == expect, await resp.text()
    assert resp.content_type == "application/fhir+json"
    body: dict[str, Any] = await resp.json(content_type=None)
    validate(body)
    return body


async def test_schedule_and_slots(client: TestClient[Any, Any], world: World) -> None:
    clinic = await open_clinic(world)
    patient = await patient_user(world, clinic)
    ph = clinic.headers[patient["username"]]
    doctor_id = clinic.doctor["id"]
    schedule = await _get(client, f"{BASE}/Schedule/{doctor_id}", ph)
    assert schedule["resourceType"] == "Schedule"
    assert schedule["actor"][0]["reference"] == f"Practitioner/{doctor_id}"
    found = await _get(client, f"{BASE}/Schedule", ph, actor=f"Practitioner/{doctor_id}")
    assert [e["resource"]["id"] for e in found["entry"]] == [doctor_id]
    free = await slots(client, clinic, ph)
    bundle = await _get(client, f"{BASE}/Slot", ph, schedule=f"Schedule/{doctor_id}",
                        start=f"lt{ahead(7).isoformat()}")
    assert [e["resource"]["id"] for e in bundle["entry"]] == [s["id"] for s in free]
    first = bundle["entry"][0]["resource"]
    assert first["status"] == "free" and first["schedule"]["reference"] == f"Schedule/{doctor_id}"
    resp = await client.post("/api/v1/visits", headers=ph,
                             json={"slot_id": free[0]["id"], "reason": "Controllo"})
    assert resp.status == 201
    taken = await _get(client, f"{BASE}/Slot/{free[0]['id']}", ph)
    assert taken["status"] == "busy"
    assert (await _get(client, f"{BASE}/Slot/{free[1]['id']}", ph))["status"] == "free"


async def test_errors_are_operation_outcomes(client: TestClient[Any, Any], world: World) -> None:
    clinic = await open_clinic(world)
    h = clinic.headers[clinic.doctor["username"]]
    body = await _get(client, f"{BASE}/Slot/{clinic.doctor['id']}-209901010903", h, expect=404)
    assert body["resourceType"] == "OperationOutcome"
    await _get(client, f"{BASE}/Schedule/nobody", h, expect=404)
    await _get(client, f"{BASE}/Slot", h, expect=400, status="busy")
    await _get(client, f"{BASE}/Slot", h, expect=400, start="xx2026")
    admin = await world.user("admin")
    await _get(client, f"{BASE}/Slot", await world.token(admin["username"]), expect=403)
    resp = await client.get(f"{BASE}/Schedule")
    assert resp.status == 401


async def test_capability_statement_lists_schedule_and_slot(client: TestClient[Any, Any]) -> None:
    body = await _get(client, f"{BASE}/metadata", {})
    kinds = {r["type"]: r for r in body["rest"][0]["resource"]}
    assert {"Schedule", "Slot", "Appointment"} <= set(kinds)
    assert [p["name"] for p in kinds["Slot"]["searchParam"]] == ["schedule", "start", "status"]
