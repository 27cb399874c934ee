"""Teleconsult test helpers: a specialist doctor, a request answered (its report drafted),
a signature."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.services.teleconsults import set_specialties
from tests.conftest import PASSWORD, World


async def specialist(world: World, specialty: str = "cardiology") -> dict[str, str]:
    """A new doctor with `specialty`."""
    doctor = await world.user("doctor")
    async with world.app[keys.SESSIONS]() as session:
        await set_specialties(session, doctor["id"], [specialty])
        await session.commit()
    return doctor


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
QUESTION = "Dispnea da sforzo di nuova insorgenza: serve un ecocardiogramma?"
ANSWER = "Ecocardiogramma entro 7 giorni.\n\nNel frattempo proseguire la terapia."


async def answered_consult(client: TestClient[Any, Any], world: World, mode: str = "async"
                    ) -> dict[str, Any]:
    """A GP's request (a live one: scheduled, with a PDF attached) answered by the
    cardiologist: the people, their headers, and the answer's response (with the drafted
    report's id)."""
    gp, cardio, colleague, stranger = (await world.user("doctor"), await specialist(world),
                                       await world.user("nurse"), await world.user("doctor"))
    patient = await world.patient(team=[gp["id"], colleague["id"]])
    portal = await world.user("patient", patient_id=patient.id)
    h = {name: await world.token(who["username"]) for name, who in (
        ("gp", gp), ("cardio", cardio), ("colleague", colleague), ("stranger", stranger),
        ("patient", portal))}
    resp = await client.post("/api/v1/teleconsults", headers=h["gp"], json={
        "patient_id": patient.id, "specialist_id": cardio["id"], "question": QUESTION,
        "urgency": "urgent", "mode": mode})
    consult = await resp.json()
    base = f"/api/v1/teleconsults/{consult['id']}"
    assert (await client.post(f"{base}/accept", json={}, headers=h["cardio"])).status == 200
    if mode == "live":
        start = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
        assert (await client.post(f"{base}/schedule", headers=h["cardio"], json={
            "scheduled_start": start, "duration_minutes": 30})).status == 200
        assert (await client.post(f"{base}/attachments?filename=ecg.pdf", data=PDF, headers={
            **h["gp"], "Content-Type": "application/pdf"})).status == 201
    resp = await client.post(f"{base}/answer", json={"text": ANSWER}, headers=h["cardio"])
    assert resp.status == 201, await resp.text()
    answered = await resp.json()
    return {"gp": gp, "cardio": cardio, "colleague": colleague, "patient": patient, "h": h,
            "portal": portal, "consult": answered,
            "url": f"/api/v1/documents/{answered['document_id']}"}


async def sign(client: TestClient[Any, Any], url: str, headers: dict[str, str],
                **proof: str) -> Any:
    return await client.post(url + "/sign", headers=headers, json=proof or
                             {"password": PASSWORD})


async def consult_visits(client: TestClient[Any, Any], world: World) -> dict[str, Any]:
    """Two live consults about one patient, each scheduled as a visit 5 minutes ahead: one
    for the clinicians only (`visits["hidden"]`), one that invites the patient
    (`visits["invited"]`). The people (the GP requester and a team nurse on the care team,
    the cardiologist, the patient's portal user, a caregiver who acts, a guardian who reads,
    another patient) and their headers (`h`)."""
    gp, nurse, cardio = (await world.user("doctor"), await world.user("nurse"),
                         await specialist(world))
    patient, other = await world.patient(team=[gp["id"], nurse["id"]]), await world.patient()
    people = {"gp": gp, "nurse": nurse, "cardio": cardio,
              "patient": await world.user("patient", patient_id=patient.id),
              "caregiver": await world.user("patient"), "guardian": await world.user("patient"),
              "stranger": await world.user("patient", patient_id=other.id)}
    h = {name: await world.token(who["username"]) for name, who in people.items()}
    for name, scope in (("caregiver", "act"), ("guardian", "read")):
        resp = await client.post(f"/api/v1/patients/{patient.id}/delegates", headers=h["patient"],
                                 json={"delegate_username": people[name]["username"],
                                       "relationship": name, "scope": scope})
        assert resp.status == 201, await resp.text()
    start = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    visits: dict[str, str] = {}
    for name, include in (("hidden", False), ("invited", True)):
        resp = await client.post("/api/v1/teleconsults", headers=h["gp"], json={
            "patient_id": patient.id, "specialist_id": cardio["id"], "question": QUESTION,
            "urgency": "routine", "mode": "live", "include_patient": include})
        base = f"/api/v1/teleconsults/{(await resp.json())['id']}"
        assert (await client.post(f"{base}/accept", json={}, headers=h["cardio"])).status == 200
        resp = await client.post(f"{base}/schedule", headers=h["cardio"], json={
            "scheduled_start": start, "duration_minutes": 30})
        assert resp.status == 200, await resp.text()
        visits[name] = (await resp.json())["visit_id"]
    return {**people, "patient_record": patient, "h": h, "visits": visits}
