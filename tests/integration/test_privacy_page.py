"""The patient's privacy page: consent switch, emergency accesses, access log, sessions."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import World
from tests.helpers.pages import csrf_of, log_in


async def _login(client: TestClient[Any, Any], username: str) -> str:
    """Log in through the form; the session's CSRF token for the next posts."""
    resp = await log_in(client, username)
    assert resp.status in (302, 303), await resp.text()
    return await csrf_of(client, "/")


async def test_patient_sees_accesses_and_withdraws_consent(
    client: TestClient[Any, Any], world: World
) -> None:
    doctor = await world.user("doctor")
    er = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    me = await world.user("patient", patient_id=patient.id)
    doctor_h = await world.token(doctor["username"])
    await client.get(f"/api/v1/patients/{patient.id}", headers=doctor_h)
    er_h = await world.token(er["username"])
    await client.post(f"/api/v1/patients/{patient.id}/emergency-access", headers=er_h,
                      json={"reason": "Ricovero urgente, paziente non cosciente",
                            "reason_code": "unable_to_consent"})
    csrf = await _login(client, me["username"])
    page = await client.get(f"/patients/{patient.id}/privacy")
    assert page.status == 200
    html = await page.text()
    assert "Emergency accesses" in html and "Ricovero urgente" in html
    assert doctor["username"].title() in html
    resp = await client.post(f"/patients/{patient.id}/privacy/consent",
                             data={"granted": "no", "confirm": "yes", "csrf_token": csrf},
                             allow_redirects=False)
    assert resp.status == 303
    assert (await client.get(f"/api/v1/patients/{patient.id}", headers=doctor_h)).status == 403
    html = await (await client.get(f"/patients/{patient.id}/privacy")).text()
    assert "Allow my care team to open my record" in html
    # Without the CSRF token nothing changes.
    refused = await client.post(f"/patients/{patient.id}/privacy/consent",
                                data={"granted": "yes"}, allow_redirects=False)
    assert refused.status == 403
    assert (await client.get(f"/api/v1/patients/{patient.id}", headers=doctor_h)).status == 403


async def test_other_patients_privacy_page_is_refused(
    client: TestClient[Any, Any], world: World
) -> None:
    mine = await world.patient()
    other = await world.patient()
    me = await world.user("patient", patient_id=mine.id)
    await _login(client, me["username"])
    assert (await client.get(f"/patients/{other.id}/privacy")).status == 403


async def test_log_out_everywhere_ends_the_session(
    client: TestClient[Any, Any], world: World
) -> None:
    import asyncio

    patient = await world.patient()
    me = await world.user("patient", patient_id=patient.id)
    csrf = await _login(client, me["username"])
    await asyncio.sleep(1.1)
    resp = await client.post("/account/logout-everywhere", data={"csrf_token": csrf},
                             allow_redirects=False)
    assert resp.status == 303
    after = await client.get("/my-record", allow_redirects=False)
    assert after.status in (302, 303) and "/login" in after.headers["Location"]


async def test_patient_adds_and_removes_a_caregiver_from_the_page(
    client: TestClient[Any, Any], world: World
) -> None:
    patient = await world.patient()
    me = await world.user("patient", patient_id=patient.id)
    caregiver = await world.user("patient")
    care_h = await world.token(caregiver["username"])  # before the browser session exists
    csrf = await _login(client, me["username"])
    resp = await client.post(f"/patients/{patient.id}/privacy/delegates",
                             data={"delegate_username": caregiver["username"],
                                   "relationship": "parent", "csrf_token": csrf},
                             allow_redirects=False)
    assert resp.status == 303
    assert (await client.get(f"/api/v1/patients/{patient.id}", headers=care_h)).status == 200
    html = await (await client.get(f"/patients/{patient.id}/privacy")).text()
    found = re.search(r'/privacy/delegates/([0-9a-f]+)/revoke', html)
    assert found
    bad = await client.post(f"/patients/{patient.id}/privacy/delegates",
                            data={"delegate_username": "ghost", "relationship": "parent",
                                  "csrf_token": csrf})
    assert "No patient-portal user" in await bad.text()
    resp = await client.post(f"/patients/{patient.id}/privacy/delegates/{found.group(1)}/revoke",
                             data={"csrf_token": csrf}, allow_redirects=False)
    assert resp.status == 303
    assert (await client.get(f"/api/v1/patients/{patient.id}", headers=care_h)).status == 403


async def test_the_log_names_why_in_the_patients_language(
    client: TestClient[Any, Any], world: World
) -> None:
    doctor = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    me = await world.user("patient", patient_id=patient.id)
    listed = await client.get("/api/v1/patients", headers=await world.token(doctor["username"]))
    assert listed.status == 200
    await _login(client, me["username"])
    english = await (await client.get(f"/patients/{patient.id}/privacy")).text()
    assert ">In a list<" in english
    italian = await (await client.get(f"/patients/{patient.id}/privacy",
                                      headers={"Accept-Language": "it"})).text()
    assert ">In un elenco<" in italian and ">list<" not in italian
