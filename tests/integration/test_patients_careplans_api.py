"""Patients and care plans through the API: validation, scoping, versioning, audit."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlmodel import select

from telemed import keys
from telemed.db.models import AuditEvent, CarePlan, Patient
from tests.conftest import World
from tests.helpers.plans import PLAN

VALID_PATIENT = {
    "fiscal_code": "RSSMRA80A01H501U",
    "given_name": "Mario",
    "family_name": "Rossi",
    "birth_date": "1980-01-01",
    "sex": "M",
    "phone": "+39 333 1234567",
}


async def _count(app: Any, model: Any) -> int:
    async with app[keys.SESSIONS]() as session:
        return len((await session.exec(select(model))).all())


async def test_create_patient_validates_fiscal_code(
    client: TestClient[Any, Any], world: World
) -> None:
    doctor = await world.user("doctor")
    headers = await world.token(doctor["username"])
    resp = await client.post("/api/v1/patients", headers=headers, json=VALID_PATIENT)
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    assert created["fiscal_code"] == "RSSMRA80A01H501U"
    assert created["timezone"] == "Europe/Rome"
    assert created["phone"] == "+393331234567"
    # The creating doctor is on the care team and can read it back.
    again = await client.get(f"/api/v1/patients/{created['id']}", headers=headers)
    assert again.status == 200
    duplicate = await client.post("/api/v1/patients", headers=headers, json=VALID_PATIENT)
    assert duplicate.status == 409


async def test_patient_validation_errors_change_nothing(
    client: TestClient[Any, Any], world: World
) -> None:
    doctor = await world.user("doctor")
    headers = await world.token(doctor["username"])
    before = await _count(client.app, Patient)
    cases = [
        ({**VALID_PATIENT, "fiscal_code": "RSSMRA80A01H501X"}, "fiscal_code"),
        ({**VALID_PATIENT, "fiscal_code": "NOTACODE"}, "fiscal_code"),
        ({**VALID_PATIENT, "birth_date": "1981-01-01"}, "fiscal_code"),
        ({**VALID_PATIENT, "sex": "F"}, "fiscal_code"),
        ({**VALID_PATIENT, "birth_date": "2999-01-01"}, "birth_date"),
        ({**VALID_PATIENT, "given_name": "  "}, "given_name"),
        ({**VALID_PATIENT, "timezone": "Mars/Olympus"}, "timezone"),
        ({**VALID_PATIENT, "birth_date": "not a date"}, "birth_date"),
        ({**VALID_PATIENT, "unknown": 1}, "unknown"),
    ]
    for body, field in cases:
        resp = await client.post("/api/v1/patients", headers=headers, json=body)
        assert resp.status == 422, (body, await resp.text())
        assert field in (await resp.json())["error"]["fields"], (field, await resp.text())
    assert await _count(client.app, Patient) == before


async def test_careplan_lifecycle_and_versions(
    client: TestClient[Any, Any], world: World
) -> None:
    doctor = await world.user("doctor")
    nurse = await world.user("nurse")
    patient = await world.patient(team=[doctor["id"]])
    headers = await world.token(doctor["username"])
    resp = await client.post(f"/api/v1/patients/{patient.id}/careplans", headers=headers,
                             json={**PLAN, "care_team": [nurse["id"]]})
    assert resp.status == 201, await resp.text()
    plan = await resp.json()
    assert plan["status"] == "draft" and plan["version"] == 1
    assert set(plan["care_team"]) == {doctor["id"], nurse["id"]}
    # The nurse joined the patient's care team through the plan.
    nurse_headers = await world.token(nurse["username"])
    assert (await client.get(f"/api/v1/patients/{patient.id}", headers=nurse_headers)).status == 200

    # Editing a draft changes it in place.
    resp = await client.patch(f"/api/v1/careplans/{plan['id']}", headers=headers,
                              json={"title": "Scompenso cardiaco (NYHA II)"})
    assert (await resp.json())["version"] == 1
    resp = await client.post(f"/api/v1/careplans/{plan['id']}/activate", headers=headers)
    assert resp.status == 200 and (await resp.json())["status"] == "active"
    again = await client.post(f"/api/v1/careplans/{plan['id']}/activate", headers=headers)
    assert again.status == 409

    # Editing an active plan makes version 2; version 1 stays readable.
    resp = await client.patch(f"/api/v1/careplans/{plan['id']}", headers=headers,
                              json={"goals": ["Peso stabile", "Nessun ricovero"]})
    v2 = await resp.json()
    assert v2["version"] == 2 and v2["status"] == "active" and v2["id"] == plan["id"]
    v1 = await (await client.get(f"/api/v1/careplans/{plan['id']}?version=1",
                                 headers=headers)).json()
    assert v1["goals"] == ["Peso stabile"] and v1["superseded_at"]
    versions = await (await client.get(f"/api/v1/careplans/{plan['id']}/versions",
                                       headers=headers)).json()
    assert [v["version"] for v in versions["items"]] == [2, 1]
    missing = await client.get(f"/api/v1/careplans/{plan['id']}?version=9", headers=headers)
    assert missing.status == 404

    done = await client.post(f"/api/v1/careplans/{plan['id']}/complete", headers=headers)
    assert (await done.json())["status"] == "completed"
    frozen = await client.patch(f"/api/v1/careplans/{plan['id']}", headers=headers,
                                json={"title": "x"})
    assert frozen.status == 409


async def test_activating_a_plan_completes_the_previous_one(
    client: TestClient[Any, Any], world: World
) -> None:
    doctor = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    headers = await world.token(doctor["username"])
    ids = []
    for _ in range(2):
        resp = await client.post(f"/api/v1/patients/{patient.id}/careplans", headers=headers,
                                 json=PLAN)
        ids.append((await resp.json())["id"])
        await client.post(f"/api/v1/careplans/{ids[-1]}/activate", headers=headers)
    plans = await (await client.get(f"/api/v1/patients/{patient.id}/careplans",
                                    headers=headers)).json()
    status = {p["id"]: p["status"] for p in plans["items"]}
    assert status == {ids[0]: "completed", ids[1]: "active"}


async def test_careplan_validation_reports_every_field(
    client: TestClient[Any, Any], world: World
) -> None:
    doctor = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    headers = await world.token(doctor["username"])
    before = await _count(client.app, CarePlan)
    bad = {
        **PLAN,
        "title": "",
        "monitoring": [
            {"metric": "spo2", "schedule": {"times": ["25:00"], "tolerance_minutes": 60},
             "bands": {"critical_low": 92, "warning_low": 88}},
            {"metric": "unobtainium", "schedule": {"continuous": True}},
            {"metric": "heart_rate", "schedule": {"continuous": True},
             "bands": {"warning_high": 900}},
        ],
        "care_team": ["nobody"],
    }
    resp = await client.post(f"/api/v1/patients/{patient.id}/careplans", headers=headers,
                             json=bad)
    assert resp.status == 422
    fields = (await resp.json())["error"]["fields"]
    assert "title" in fields
    assert "monitoring[0].schedule.times[0]" in fields
    assert any(k.startswith("monitoring[0].bands") for k in fields)
    assert any(k.startswith("monitoring[1]") for k in fields)
    assert any(k.startswith("monitoring[2].bands") for k in fields)
    assert await _count(client.app, CarePlan) == before
    wrong_team = await client.post(f"/api/v1/patients/{patient.id}/careplans", headers=headers,
                                   json={**PLAN, "care_team": ["nobody"]})
    assert wrong_team.status == 422
    assert await _count(client.app, CarePlan) == before


async def test_reads_and_refusals_are_audited(client: TestClient[Any, Any], world: World) -> None:
    doctor = await world.user("doctor")
    outsider = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    ok = await client.get(f"/api/v1/patients/{patient.id}",
                          headers=await world.token(doctor["username"]))
    assert ok.status == 200
    refused = await client.get(f"/api/v1/patients/{patient.id}",
                               headers=await world.token(outsider["username"]))
    assert refused.status == 403
    async with client.app[keys.SESSIONS]() as session:
        events = (await session.exec(
            select(AuditEvent).where(AuditEvent.patient_id == patient.id)
        )).all()
    outcomes = {(e.actor_id, e.action, e.outcome) for e in events}
    assert (doctor["id"], "read", "success") in outcomes
    assert (outsider["id"], "read", "denied") in outcomes


async def test_clinician_lists_only_own_patients(
    client: TestClient[Any, Any], world: World
) -> None:
    doctor = await world.user("doctor")
    other = await world.user("doctor")
    mine = await world.patient(team=[doctor["id"]])
    await world.patient(team=[other["id"]])
    resp = await client.get("/api/v1/patients", headers=await world.token(doctor["username"]))
    assert [p["id"] for p in (await resp.json())["items"]] == [mine.id]


async def test_plan_changes_are_announced_to_ingest(
    client: TestClient[Any, Any], world: World
) -> None:
    """Activation and edits publish a care-plan event (ingest refreshes device configs)."""
    import asyncio

    from telemed.bus import CAREPLANS

    doctor = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    headers = await world.token(doctor["username"])
    subscription = client.app[keys.BUS].subscribe(CAREPLANS)
    try:
        plan = await (await client.post(f"/api/v1/patients/{patient.id}/careplans",
                                        headers=headers, json=PLAN)).json()
        await client.post(f"/api/v1/careplans/{plan['id']}/activate", headers=headers)
        event = await asyncio.wait_for(subscription.__anext__(), timeout=5)
        assert event["patient_id"] == patient.id and event["plan_id"] == plan["id"]
        await client.patch(f"/api/v1/careplans/{plan['id']}", headers=headers,
                           json={"goals": ["Peso stabile"]})
        event = await asyncio.wait_for(subscription.__anext__(), timeout=5)
        assert event["version"] == 2
    finally:
        await subscription.close()
