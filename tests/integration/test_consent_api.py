"""Consent, emergency access and the access log (docs/api.md, "Privacy")."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import World


async def test_patient_revokes_and_regrants_consent(
    client: TestClient[Any, Any], world: World
) -> None:
    doctor = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    me = await world.user("patient", patient_id=patient.id)
    doctor_h = await world.token(doctor["username"])
    patient_h = await world.token(me["username"])
    assert (await client.get(f"/api/v1/patients/{patient.id}", headers=doctor_h)).status == 200

    resp = await client.post(f"/api/v1/patients/{patient.id}/consents", headers=patient_h,
                             json={"granted": False, "note": "Non voglio"})
    assert resp.status == 201
    assert (await client.get(f"/api/v1/patients/{patient.id}", headers=doctor_h)).status == 403
    listed = await client.get("/api/v1/patients", headers=doctor_h)
    assert (await listed.json())["items"] == []

    # The clinician cannot give consent back to themselves.
    self_grant = await client.post(f"/api/v1/patients/{patient.id}/consents", headers=doctor_h,
                                   json={"granted": True})
    assert self_grant.status == 403

    # A consent for one clinician overrides the general refusal for that clinician only.
    resp = await client.post(f"/api/v1/patients/{patient.id}/consents", headers=patient_h,
                             json={"granted": True, "grantee_id": doctor["id"]})
    assert resp.status == 201
    assert (await client.get(f"/api/v1/patients/{patient.id}", headers=doctor_h)).status == 200
    history = await (await client.get(f"/api/v1/patients/{patient.id}/consents",
                                      headers=patient_h)).json()
    assert [c["granted"] for c in history["items"]][:2] == [True, False]


async def test_break_glass_is_time_limited_logged_and_visible(
    client: TestClient[Any, Any], world: World
) -> None:
    doctor = await world.user("doctor")
    er_doctor = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    me = await world.user("patient", patient_id=patient.id)
    er_h = await world.token(er_doctor["username"])
    assert (await client.get(f"/api/v1/patients/{patient.id}", headers=er_h)).status == 403
    short = await client.post(f"/api/v1/patients/{patient.id}/emergency-access", headers=er_h,
                              json={"reason": "urgent"})
    assert short.status == 422
    unknown = await client.post(f"/api/v1/patients/{patient.id}/emergency-access",
                                headers=er_h, json={"reason": "Paziente incosciente in PS",
                                                    "reason_code": "curiosity"})
    assert unknown.status == 422
    assert "reason_code" in (await unknown.json())["error"]["fields"]
    # The contract's `{reason}` alone is filed under `other`.
    resp = await client.post(f"/api/v1/patients/{patient.id}/emergency-access", headers=er_h,
                             json={"reason": "Paziente incosciente in pronto soccorso"})
    assert resp.status == 201
    assert (await resp.json())["reason_code"] == "other"
    grant = await resp.json()
    assert grant["expires_at"] > grant["granted_at"]
    assert (await client.get(f"/api/v1/patients/{patient.id}", headers=er_h)).status == 200
    # The patient is told, in the notification centre (and by email when they have one).
    notes = await (await client.get("/api/v1/notifications",
                                    headers=await world.token(me["username"]))).json()
    assert [n["kind"] for n in notes["items"]] == ["emergency_access"]
    assert notes["items"][0]["link"] == f"/patients/{patient.id}/privacy"

    log = await client.get(f"/api/v1/patients/{patient.id}/access-log",
                           headers=await world.token(me["username"]))
    assert log.status == 200
    items = (await log.json())["items"]
    emergency = [e for e in items if e["emergency"]]
    assert emergency and all(e["actor_id"] == er_doctor["id"] for e in emergency)
    # The log names the reason code; the free text stays in the emergency access itself.
    assert any(e["reason_code"] == "emergency" and e["reason_params"] == {"grounds": "other"}
               for e in emergency)
    assert not any("pronto soccorso" in (e["reason"] or "") for e in items)
    denied = [e for e in items if e["outcome"] == "denied"]
    assert denied and denied[-1]["actor_id"] == er_doctor["id"]


async def test_access_log_csv_and_scope(client: TestClient[Any, Any], world: World) -> None:
    doctor = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    other = await world.patient(team=[doctor["id"]])
    me = await world.user("patient", patient_id=patient.id)
    await client.get(f"/api/v1/patients/{patient.id}",
                     headers=await world.token(doctor["username"]))
    patient_h = await world.token(me["username"])
    csv_resp = await client.get(f"/api/v1/patients/{patient.id}/access-log?format=csv",
                                headers=patient_h)
    assert csv_resp.status == 200
    assert csv_resp.content_type == "text/csv"
    text = await csv_resp.text()
    assert text.splitlines()[0].startswith("at,actor_name,actor_role")
    assert doctor["username"].title() in text
    assert (await client.get(f"/api/v1/patients/{other.id}/access-log",
                             headers=patient_h)).status == 403
    assert (await client.get(f"/api/v1/patients/{patient.id}/access-log",
                             headers=await world.token(doctor["username"]))).status == 403
    bad = await client.get(f"/api/v1/patients/{patient.id}/access-log?cursor=x",
                           headers=patient_h)
    assert bad.status == 400
