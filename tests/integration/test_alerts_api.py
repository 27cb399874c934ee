"""Alerts: opened by readings, listed for the caller's patients, ack/resolve/snooze, audit."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import World
from tests.helpers.ward import Ward
from tests.integration.monitoring import (
    add_plan,
    alerts_of,
    audit_of,
    now_s,
)


@pytest.fixture
async def ward(world: World) -> Ward:
    return await Ward(world).build()


async def test_out_of_band_reading_opens_one_alert(client: TestClient[Any, Any],
                                                   ward: Ward) -> None:
    t = now_s()
    await ward.send(("spo2", 93, "%", t - 60))  # warning (default bands: < 94)
    await ward.send(("spo2", 93, "%", t - 30))  # same condition: no second alert
    resp = await client.get("/api/v1/alerts", headers=await ward.headers(ward.doctor))
    items = (await resp.json())["items"]
    assert len(items) == 1
    alert = items[0]
    assert alert["kind"] == "threshold" and alert["metric"] == "spo2"
    assert alert["severity"] == "warning" and alert["status"] == "open"
    assert alert["patient"]["family_name"] == ward.patient.family_name
    await ward.send(("spo2", 90, "%", t))  # critical: the same alert escalates
    items = (await (await client.get("/api/v1/alerts",
                                     headers=await ward.headers(ward.doctor))).json())["items"]
    assert [(a["id"], a["severity"]) for a in items] == [(alert["id"], "critical")]


async def test_alert_records_the_care_plan_version(client: TestClient[Any, Any],
                                                   ward: Ward) -> None:
    plan = await add_plan(ward.world.app, ward.patient.id, ward.doctor["id"], {"monitoring": [
        {"metric": "blood_glucose", "schedule": {"continuous": True},
         "bands": {"critical_low": 54, "warning_low": 70, "warning_high": 180,
                   "critical_high": 300}}]})
    await ward.send(("blood_glucose", 200, "mg/dL", now_s()))
    [alert] = await alerts_of(ward.world.app, ward.patient.id)
    assert (alert.careplan_id, alert.careplan_version) == (plan.plan_id, 1)
    assert alert.severity == "warning"


async def test_ack_resolve_lifecycle_is_audited(client: TestClient[Any, Any],
                                                ward: Ward) -> None:
    await ward.send(("heart_rate", 140, "/min", now_s()))
    [alert] = await alerts_of(ward.world.app, ward.patient.id)
    nurse = await ward.headers(ward.nurse)
    resp = await client.post(f"/api/v1/alerts/{alert.id}/ack", json={"note": "calling"},
                             headers=nurse)
    assert resp.status == 200
    data = await resp.json()
    assert data["status"] == "acknowledged" and data["acknowledged_by"] == ward.nurse["id"]
    assert data["ack_note"] == "calling"
    again = await client.post(f"/api/v1/alerts/{alert.id}/ack", json={}, headers=nurse)
    assert again.status == 409
    no_note = await client.post(f"/api/v1/alerts/{alert.id}/resolve", json={"note": " "},
                                headers=nurse)
    assert no_note.status == 422
    resp = await client.post(f"/api/v1/alerts/{alert.id}/resolve",
                             json={"note": "patient rested, 80 bpm"}, headers=nurse)
    data = await resp.json()
    assert data["status"] == "resolved" and data["resolve_note"] == "patient rested, 80 bpm"
    listed = await client.get("/api/v1/alerts", headers=nurse)
    assert (await listed.json())["items"] == []
    resolved = await client.get("/api/v1/alerts?status=resolved", headers=nurse)
    assert [a["id"] for a in (await resolved.json())["items"]] == [alert.id]
    trail = [(e.actor_id, e.action, e.reason_code)
             for e in await audit_of(ward.world.app, alert.id)]
    assert trail[0][0] is None and trail[0][1] == "create"  # opened by the system
    assert (ward.nurse["id"], "update", "alert_acknowledge") in trail
    assert (ward.nurse["id"], "update", "alert_resolve") in trail


async def test_reading_after_resolution_opens_a_new_alert(client: TestClient[Any, Any],
                                                          ward: Ward) -> None:
    t = now_s()
    await ward.send(("heart_rate", 140, "/min", t - 60))
    [first] = await alerts_of(ward.world.app, ward.patient.id)
    await client.post(f"/api/v1/alerts/{first.id}/resolve", json={"note": "seen"},
                      headers=await ward.headers(ward.doctor))
    await ward.send(("heart_rate", 141, "/min", t))
    alerts = await alerts_of(ward.world.app, ward.patient.id)
    assert [a.status for a in alerts] == ["resolved", "open"]


async def test_snooze_bounds_and_worse_severity_breaks_it(client: TestClient[Any, Any],
                                                          ward: Ward) -> None:
    t = now_s()
    await ward.send(("heart_rate", 115, "/min", t - 60))
    [alert] = await alerts_of(ward.world.app, ward.patient.id)
    doctor = await ward.headers(ward.doctor)
    for minutes in (0, 1441):
        bad = await client.post(f"/api/v1/alerts/{alert.id}/snooze", json={"minutes": minutes},
                                headers=doctor)
        assert bad.status == 422
    resp = await client.post(f"/api/v1/alerts/{alert.id}/snooze", json={"minutes": 30},
                             headers=doctor)
    assert resp.status == 200 and (await resp.json())["snoozed_until"] is not None
    await ward.send(("heart_rate", 150, "/min", t))  # critical
    [alert] = await alerts_of(ward.world.app, ward.patient.id)
    assert alert.severity == "critical" and alert.snoozed_until is None


async def test_list_is_ordered_by_severity_then_age_and_paginated(
        client: TestClient[Any, Any], ward: Ward) -> None:
    t = now_s()
    await ward.send(("heart_rate", 115, "/min", t - 30))  # warning
    await ward.send(("spo2", 90, "%", t - 20))  # critical
    await ward.send(("body_temp", 39.5, "Cel", t - 10))  # warning
    doctor = await ward.headers(ward.doctor)
    resp = await client.get("/api/v1/alerts?limit=2", headers=doctor)
    page = await resp.json()
    assert [a["metric"] for a in page["items"]] == ["spo2", "heart_rate"]
    resp = await client.get(f"/api/v1/alerts?limit=2&cursor={page['next_cursor']}",
                            headers=doctor)
    assert [a["metric"] for a in (await resp.json())["items"]] == ["body_temp"]
    critical = await client.get("/api/v1/alerts?severity=critical", headers=doctor)
    assert [a["metric"] for a in (await critical.json())["items"]] == ["spo2"]
    bad = await client.get("/api/v1/alerts?status=nonsense", headers=doctor)
    assert bad.status == 400


@pytest.mark.parametrize(("who", "expected"), [
    ("doctor", 200), ("nurse", 200), ("patient_user", 200), ("stranger", 200),
    ("admin", 403), (None, 401),
])
async def test_list_role_matrix(client: TestClient[Any, Any], ward: Ward, who: str | None,
                                expected: int) -> None:
    await ward.send(("heart_rate", 140, "/min", now_s()))
    headers = await ward.headers(getattr(ward, who)) if who else {}
    resp = await client.get("/api/v1/alerts", headers=headers)
    assert resp.status == expected
    if expected == 200:
        count = len((await resp.json())["items"])
        assert count == (0 if who == "stranger" else 1)


@pytest.mark.parametrize("action", ["ack", "resolve", "snooze"])
@pytest.mark.parametrize(("who", "expected"), [
    ("stranger", 403), ("patient_user", 403), ("admin", 403), (None, 401),
])
async def test_actions_role_matrix(client: TestClient[Any, Any], ward: Ward, action: str,
                                   who: str | None, expected: int) -> None:
    await ward.send(("heart_rate", 140, "/min", now_s()))
    [alert] = await alerts_of(ward.world.app, ward.patient.id)
    headers = await ward.headers(getattr(ward, who)) if who else {}
    body = {"ack": {}, "resolve": {"note": "x"}, "snooze": {"minutes": 5}}[action]
    resp = await client.post(f"/api/v1/alerts/{alert.id}/{action}", json=body, headers=headers)
    assert resp.status == expected
    [after] = await alerts_of(ward.world.app, ward.patient.id)
    assert after.status == "open" and after.snoozed_until is None


async def test_other_teams_patient_filter_is_forbidden(client: TestClient[Any, Any],
                                                       ward: Ward) -> None:
    resp = await client.get(f"/api/v1/alerts?patient={ward.other.id}",
                            headers=await ward.headers(ward.doctor))
    assert resp.status == 403


async def test_observations_and_latest_vitals(client: TestClient[Any, Any],
                                              ward: Ward) -> None:
    t = now_s()
    await ward.send(("heart_rate", 70, "/min", t - 120), ("heart_rate", 75, "/min", t - 60),
                    ("spo2", 97, "%", t - 60))
    doctor = await ward.headers(ward.doctor)
    base = f"/api/v1/patients/{ward.patient.id}"
    resp = await client.get(f"{base}/observations?metric=heart_rate&limit=1", headers=doctor)
    page = await resp.json()
    assert [o["value"] for o in page["items"]] == [75]
    assert page["items"][0]["unit"] == "/min"
    resp = await client.get(f"{base}/observations?metric=heart_rate&cursor="
                            f"{page['next_cursor']}", headers=doctor)
    assert [o["value"] for o in (await resp.json())["items"]] == [70]
    latest = await (await client.get(f"{base}/vitals/latest", headers=doctor)).json()
    assert latest["vitals"]["heart_rate"]["value"] == 75
    assert latest["vitals"]["spo2"]["value"] == 97
    stranger = await client.get(f"{base}/observations",
                                headers=await ward.headers(ward.stranger))
    assert stranger.status == 403
    bad = await client.get(f"{base}/observations?since=yesterday", headers=doctor)
    assert bad.status == 400


async def test_alerts_carry_their_detail_as_code_and_args(client: TestClient[Any, Any],
                                                          ward: Ward) -> None:
    from telemed import keys
    from telemed.api.openapi import ALERT_SCHEMA
    from telemed.db.models import Alert

    schema = pytest.importorskip("jsonschema_rs").Draft202012Validator(
        ALERT_SCHEMA, validate_formats=True)
    await ward.send(("heart_rate", 150, "/min", now_s()))
    async with ward.world.app[keys.SESSIONS]() as session:  # an alert from before 0004
        session.add(Alert(patient_id=ward.patient.id, rule_key="threshold:spo2",
                          kind="threshold", metric="spo2", severity="warning",
                          detail="Oxygen saturation 93 % (warning low) at 2025-01-01T10:00:00"
                                 "+00:00"))
        await session.commit()
    headers = await ward.headers(ward.nurse)
    items = (await (await client.get("/api/v1/alerts", headers=headers)).json())["items"]
    new, old = items
    assert new["detail"].startswith("Heart rate 150 bpm (critical high) at ")
    assert new["detail_code"] == "threshold"
    assert new["detail_args"]["metric"] == "heart_rate" and new["detail_args"]["value"] == 150
    assert new["detail_args"]["at"].endswith("+00:00")
    assert (old["detail_code"], old["detail_args"]) == (None, None)
    assert old["detail"].startswith("Oxygen saturation 93 %")
    for item in items:
        schema.validate(item)  # the OpenAPI description says what is answered
    acked = await (await client.post(f"/api/v1/alerts/{new['id']}/ack", json={},
                                     headers=headers)).json()
    assert acked["detail_code"] == "threshold" and acked["detail_args"] == new["detail_args"]
    schema.validate(acked)
