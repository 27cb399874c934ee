"""Delegates: a caregiver or a parent reads a patient's portal; revocable; logged."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import World


async def test_patient_grants_and_revokes_a_caregiver(
    client: TestClient[Any, Any], world: World
) -> None:
    doctor = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    other = await world.patient(team=[doctor["id"]])
    me = await world.user("patient", patient_id=patient.id)
    caregiver = await world.user("patient")  # a portal account without a record of its own
    me_h = await world.token(me["username"])
    care_h = await world.token(caregiver["username"])
    assert (await client.get(f"/api/v1/patients/{patient.id}", headers=care_h)).status == 403

    resp = await client.post(f"/api/v1/patients/{patient.id}/delegates", headers=me_h,
                             json={"delegate_username": caregiver["username"],
                                   "relationship": "caregiver"})
    assert resp.status == 201, await resp.text()
    delegation = await resp.json()
    again = await client.post(f"/api/v1/patients/{patient.id}/delegates", headers=me_h,
                              json={"delegate_username": caregiver["username"],
                                    "relationship": "caregiver"})
    assert again.status == 409

    assert (await client.get(f"/api/v1/patients/{patient.id}", headers=care_h)).status == 200
    plans = await client.get(f"/api/v1/patients/{patient.id}/careplans", headers=care_h)
    assert plans.status == 200
    listed = await (await client.get("/api/v1/patients", headers=care_h)).json()
    assert [p["id"] for p in listed["items"]] == [patient.id]
    # Read only, and only this patient.
    assert (await client.patch(f"/api/v1/patients/{patient.id}", headers=care_h,
                               json={"phone": "+390611111111"})).status == 403
    assert (await client.get(f"/api/v1/patients/{other.id}", headers=care_h)).status == 403
    # A delegate cannot hand the access on.
    third = await world.user("patient")
    handed = await client.post(f"/api/v1/patients/{patient.id}/delegates", headers=care_h,
                               json={"delegate_username": third["username"],
                                     "relationship": "caregiver"})
    assert handed.status == 403

    log = await (await client.get(f"/api/v1/patients/{patient.id}/access-log",
                                  headers=me_h)).json()
    assert any(e["actor_id"] == caregiver["id"] for e in log["items"])
    assert any(e["resource"] == "delegation" and e["action"] == "create" for e in log["items"])

    revoked = await client.delete(
        f"/api/v1/patients/{patient.id}/delegates/{delegation['id']}", headers=me_h)
    assert revoked.status == 200 and (await revoked.json())["active"] is False
    assert (await client.get(f"/api/v1/patients/{patient.id}", headers=care_h)).status == 403
    twice = await client.delete(
        f"/api/v1/patients/{patient.id}/delegates/{delegation['id']}", headers=me_h)
    assert twice.status == 409


async def test_delegate_validation(client: TestClient[Any, Any], world: World) -> None:
    patient = await world.patient()
    me = await world.user("patient", patient_id=patient.id)
    nurse = await world.user("nurse")
    me_h = await world.token(me["username"])
    for body, field in (
        ({"delegate_username": "ghost", "relationship": "caregiver"}, "delegate_username"),
        ({"delegate_username": nurse["username"], "relationship": "caregiver"},
         "delegate_username"),
        ({"delegate_username": me["username"], "relationship": "caregiver"},
         "delegate_username"),
        ({"delegate_username": me["username"], "relationship": "neighbour"}, "relationship"),
    ):
        resp = await client.post(f"/api/v1/patients/{patient.id}/delegates", headers=me_h,
                                 json=body)
        assert resp.status == 422, body
        assert field in (await resp.json())["error"]["fields"]
    listing = await (await client.get(f"/api/v1/patients/{patient.id}/delegates",
                                      headers=me_h)).json()
    assert listing["items"] == []


async def test_caregiver_portal_shows_the_delegated_record(
    client: TestClient[Any, Any], world: World
) -> None:
    from tests.helpers.pages import log_in

    patient = await world.patient()
    me = await world.user("patient", patient_id=patient.id)
    caregiver = await world.user("patient")
    resp = await client.post(f"/api/v1/patients/{patient.id}/delegates",
                             headers=await world.token(me["username"]),
                             json={"delegate_username": caregiver["username"],
                                   "relationship": "parent"})
    assert resp.status == 201
    await log_in(client, caregiver["username"])
    html = await (await client.get("/my-record")).text()
    assert patient.family_name in html, html[html.find("<main"):html.find("</main>")][:600]
    assert "/privacy" not in html  # consent and the access log stay the patient's own
