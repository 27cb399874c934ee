"""Teleconsult requests (CONTRACT §9): ask, inbox, accept/decline/more info, live and async,
and the consulted specialist's access to the patient for the consult's duration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.notify.reminders import visit_reminders
from telemed.signalling import messages as m
from telemed.signalling.client import SignallingClient
from tests.conftest import World
from tests.helpers.plans import PLAN
from tests.helpers.teleconsults import specialist
from tests.integration.visit_helpers import ORIGIN


async def _people(world: World) -> dict[str, Any]:
    gp, cardio, other = await world.user("doctor"), await specialist(world), \
        await world.user("doctor")
    patient = await world.patient(team=[gp["id"]])
    return {"gp": gp, "cardio": cardio, "other": other, "patient": patient,
            "h": {k: await world.token(v["username"]) for k, v in
                  (("gp", gp), ("cardio", cardio), ("other", other))}}


async def _ask(client: TestClient[Any, Any], p: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body = {"patient_id": p["patient"].id, "question": "Dispnea da sforzo: ecocardio?",
            "urgency": "urgent", "mode": "async", **extra}
    if "specialty" not in extra:
        body.setdefault("specialist_id", p["cardio"]["id"])
    resp = await client.post("/api/v1/teleconsults", json=body, headers=p["h"]["gp"])
    assert resp.status == 201, await resp.text()
    return dict(await resp.json())


async def test_async_consult_grants_access_only_while_open(
        client: TestClient[Any, Any], world: World) -> None:
    p = await _people(world)
    record = f"/api/v1/patients/{p['patient'].id}"
    # Before: the cardiologist is not on the team and cannot open the record.
    assert (await client.get(record, headers=p["h"]["cardio"])).status == 403
    consult = await _ask(client, p)
    assert consult["status"] == "requested" and consult["urgency"] == "urgent"
    inbox = await (await client.get("/api/v1/teleconsults",
                                    headers=p["h"]["cardio"])).json()
    assert [c["id"] for c in inbox["items"]] == [consult["id"]]
    sent = await (await client.get("/api/v1/teleconsults?box=sent",
                                   headers=p["h"]["gp"])).json()
    assert [c["id"] for c in sent["items"]] == [consult["id"]]
    # Another doctor sees neither the request nor the record.
    assert (await client.get(f"/api/v1/teleconsults/{consult['id']}",
                             headers=p["h"]["other"])).status == 403
    assert (await client.get(record, headers=p["h"]["cardio"])).status == 403  # not yet
    base = f"/api/v1/teleconsults/{consult['id']}"
    # The requester cannot accept its own request.
    assert (await client.post(f"{base}/accept", json={}, headers=p["h"]["gp"])).status == 409
    resp = await client.post(f"{base}/accept", json={}, headers=p["h"]["cardio"])
    assert resp.status == 200 and (await resp.json())["status"] == "accepted"
    assert (await client.get(record, headers=p["h"]["cardio"])).status == 200
    lists = await (await client.get("/api/v1/patients", headers=p["h"]["cardio"])).json()
    assert p["patient"].id in [x["id"] for x in lists["items"]]
    # Emergency-like limits: no care plans through a consult.
    resp = await client.post(f"{record}/careplans", json=PLAN, headers=p["h"]["cardio"])
    assert resp.status == 403, await resp.text()
    resp = await client.post(f"{base}/answer", json={"text": "Ecocardio entro 7 giorni."},
                             headers=p["h"]["cardio"])
    assert resp.status == 201, await resp.text()
    answered = await resp.json()
    assert answered["status"] == "answered" and answered["answer"]["intact"] is True
    # The consult is over: so is the access; a second answer is refused.
    assert (await client.get(record, headers=p["h"]["cardio"])).status == 403
    assert (await client.post(f"{base}/answer", json={"text": "x"},
                              headers=p["h"]["cardio"])).status == 409
    # The access was audited as such and shows on the patient's access log.
    admin = await world.user("admin")
    log = await (await client.get(f"{record}/access-log",
                                  headers=await world.token(admin["username"]))).json()
    reasons = [(e["reason_code"], e["reason"]) for e in log["items"]
               if e["actor_id"] == p["cardio"]["id"]]
    assert ("teleconsult_access", "Consulted specialist (teleconsult)") in reasons
    assert ("teleconsult_request", "Teleconsult request") in reasons
    assert ("teleconsult_answer", "Teleconsult answered") in reasons


async def test_more_info_decline_and_bad_input(client: TestClient[Any, Any],
                                               world: World) -> None:
    p = await _people(world)
    consult = await _ask(client, p)
    base = f"/api/v1/teleconsults/{consult['id']}"
    # Asking for more without saying what: 422, nothing changed.
    assert (await client.post(f"{base}/more-info", json={},
                              headers=p["h"]["cardio"])).status == 422
    resp = await client.post(f"{base}/more-info", json={"text": "Ultimo ECG?"},
                             headers=p["h"]["cardio"])
    assert (await resp.json())["status"] == "info_requested"
    assert (await client.get(f"/api/v1/patients/{p['patient'].id}",
                             headers=p["h"]["cardio"])).status == 403
    resp = await client.post(f"{base}/add-info", json={"text": "ECG allegato, ritmo sinusale"},
                             headers=p["h"]["gp"])
    assert (await resp.json())["status"] == "requested"
    resp = await client.post(f"{base}/decline", json={"text": "Non di mia competenza"},
                             headers=p["h"]["cardio"])
    view = await resp.json()
    assert view["status"] == "declined"
    assert [n["action"] for n in view["notes"]] == ["more_info", "add_info", "decline"]
    assert (await client.post(f"{base}/accept", json={},
                              headers=p["h"]["cardio"])).status == 409
    for bad in ({"patient_id": p["patient"].id, "question": "?", "specialist_id":
                 p["gp"]["id"]},  # oneself
                {"patient_id": p["patient"].id, "question": "?"},  # nobody asked
                {"patient_id": p["patient"].id, "question": "?", "specialty": "astrology"},
                {"patient_id": p["patient"].id, "question": "  ", "specialty": "cardiology"},
                {"patient_id": p["patient"].id, "question": "?", "specialty": "cardiology",
                 "urgency": "yesterday"}):
        resp = await client.post("/api/v1/teleconsults", json=bad, headers=p["h"]["gp"])
        assert resp.status == 422, (bad, await resp.text())
    # Asking about a patient one may not see: 403.
    stranger = await world.patient(team=[p["other"]["id"]])
    resp = await client.post("/api/v1/teleconsults", json={
        "patient_id": stranger.id, "question": "?", "specialty": "cardiology"},
        headers=p["h"]["gp"])
    assert resp.status == 403


async def test_specialty_request_taken_by_a_member_and_live_visit(
        client: TestClient[Any, Any], world: World) -> None:
    p = await _people(world)
    consult = await _ask(client, p, specialty="cardiology", mode="live")
    base = f"/api/v1/teleconsults/{consult['id']}"
    inbox = await (await client.get("/api/v1/teleconsults", headers=p["h"]["cardio"])).json()
    assert consult["id"] in [c["id"] for c in inbox["items"]]
    other_inbox = await (await client.get("/api/v1/teleconsults",
                                          headers=p["h"]["other"])).json()
    assert other_inbox["items"] == []
    resp = await client.post(f"{base}/accept", json={}, headers=p["h"]["cardio"])
    assert (await resp.json())["specialist_id"] == p["cardio"]["id"]
    start = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    resp = await client.post(f"{base}/schedule", json={"scheduled_start": start,
                                                       "duration_minutes": 30},
                             headers=p["h"]["cardio"])
    assert resp.status == 200, await resp.text()
    visit_id = (await resp.json())["visit_id"]
    visit = await (await client.get(f"/api/v1/visits/{visit_id}",
                                    headers=p["h"]["gp"])).json()
    assert visit["kind"] == "teleconsult"
    assert sorted(visit["participant_ids"]) == sorted([p["gp"]["id"], p["cardio"]["id"]])
    # Both may join it; the consult still gives the specialist the record.
    for who in ("gp", "cardio"):
        assert (await client.get(f"/api/v1/visits/{visit_id}/join",
                                 headers=p["h"][who])).status == 200
    assert (await client.get(f"/api/v1/patients/{p['patient'].id}",
                             headers=p["h"]["cardio"])).status == 200
    # An async request cannot be scheduled.
    other = await _ask(client, p)
    await client.post(f"/api/v1/teleconsults/{other['id']}/accept", json={},
                      headers=p["h"]["cardio"])
    resp = await client.post(f"/api/v1/teleconsults/{other['id']}/schedule",
                             json={"scheduled_start": start}, headers=p["h"]["cardio"])
    assert resp.status == 409


async def test_consult_access_respects_withdrawn_consent(client: TestClient[Any, Any],
                                                         world: World) -> None:
    p = await _people(world)
    consult = await _ask(client, p)
    await client.post(f"/api/v1/teleconsults/{consult['id']}/accept", json={},
                      headers=p["h"]["cardio"])
    patient_user = await world.user("patient", patient_id=p["patient"].id)
    resp = await client.post(f"/api/v1/patients/{p['patient'].id}/consents",
                             json={"granted": False},
                             headers=await world.token(patient_user["username"]))
    assert resp.status == 201, await resp.text()
    assert (await client.get(f"/api/v1/patients/{p['patient'].id}",
                             headers=p["h"]["cardio"])).status == 403


async def test_a_live_consult_invites_the_patient_only_when_asked(
        client: TestClient[Any, Any], world: World) -> None:
    p = await _people(world)
    patient_h = await world.token((await world.user("patient",
                                                    patient_id=p["patient"].id))["username"])
    daughter = await world.user("patient")  # a delegate who acts for the patient
    assert (await client.post(f"/api/v1/patients/{p['patient'].id}/delegates", headers=patient_h,
                              json={"delegate_username": daughter["username"],
                                    "relationship": "caregiver", "scope": "act"})).status == 201
    daughter_h = await world.token(daughter["username"])
    assert (await client.post("/api/v1/teleconsults", headers=p["h"]["gp"], json={
        "patient_id": p["patient"].id, "question": "?", "specialist_id": p["cardio"]["id"],
        "mode": "async", "include_patient": True})).status == 422  # only a live one can
    start = datetime.now(UTC) + timedelta(minutes=5)
    visits: dict[bool, str] = {}
    for include in (False, True):
        consult = await _ask(client, p, mode="live", include_patient=include)
        assert consult["include_patient"] is include
        base = f"/api/v1/teleconsults/{consult['id']}"
        await client.post(f"{base}/accept", json={}, headers=p["h"]["cardio"])
        resp = await client.post(f"{base}/schedule", headers=p["h"]["cardio"], json={
            "scheduled_start": start.isoformat(), "duration_minutes": 30})
        assert resp.status == 200, await resp.text()
        visits[include] = (await resp.json())["visit_id"]
    # Without the flag the visit does not exist for the patient's side (404, not 403), who
    # does not list it and is not told of it (tests/integration/test_clinicians_only_visits.py).
    resp = await client.get(f"/api/v1/visits/{visits[False]}/join", headers=patient_h)
    assert resp.status == 404, await resp.text()
    assert (await client.get(f"/visits/{visits[False]}/check-in",
                             headers=patient_h)).status == 404
    assert (await client.get(f"/api/v1/visits/{visits[False]}/join",
                             headers=daughter_h)).status == 404
    # With it: joins as the patient (the signalling's waiting room holds them), lists it,
    # and gets the visit's news and reminders like any visit.
    joined = await client.get(f"/api/v1/visits/{visits[True]}/join", headers=patient_h)
    assert joined.status == 200 and (await joined.json())["role"] == "patient"
    peer = await SignallingClient(client.session,
                                  str(client.make_url(f"/ws/visits/{visits[True]}")),
                                  (await joined.json())["token"], origin=ORIGIN).connect()
    try:
        await peer.send(m.Join())
        welcome = await peer.expect(m.Welcome)
        assert welcome.state == "waiting" and welcome.role == "patient"
    finally:
        await peer.close()
    joined = await client.get(f"/api/v1/visits/{visits[True]}/join", headers=daughter_h)
    assert joined.status == 200 and (await joined.json())["role"] == "patient"
    assert (await client.get(f"/visits/{visits[True]}/check-in",
                             headers=patient_h)).status == 200
    mine = await (await client.get("/api/v1/visits", headers=patient_h)).json()
    assert [v["id"] for v in mine["items"]] == [visits[True]]
    async with world.app[keys.SESSIONS]() as session:
        await visit_reminders(session, start - timedelta(minutes=10))
        await session.commit()
    told = await (await client.get("/api/v1/notifications", headers=patient_h)).json()
    assert sorted(n["kind"] for n in told["items"]) == ["visit_changed", "visit_reminder"]
    assert (await client.get(f"/api/v1/visits/{visits[True]}/join",
                             headers=p["h"]["other"])).status == 403  # nor a stranger
