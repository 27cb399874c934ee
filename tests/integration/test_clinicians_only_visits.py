"""A clinicians-only visit (a live teleconsult without the patient, `patient_invited` false)
through the real app: the patient's side (the patient, a caregiver who acts, a guardian who
reads) and another patient find nothing of it on any path — 404 like an unknown visit, no
list, agenda, calendar, FHIR Appointment or notice — while its clinicians and the care team
still see it; the patient keeps the access log and the consult's signed report
(`telemed.domain.visit_audience`, docs/visits.md)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlmodel import col, select

from telemed import keys
from telemed.db.models import Notification, Visit
from telemed.notify.reminders import visit_reminders
from tests.conftest import World
from tests.helpers.teleconsults import answered_consult, consult_visits, sign

PORTAL_SIDE = ("patient", "caregiver", "guardian", "stranger")
UNKNOWN = "0" * 32  # a visit id that does not exist: the answer to match

# Every path that fetches one visit for a signed-in user (method, path, JSON body or None).
ONE_VISIT: tuple[tuple[str, str, dict[str, Any] | None], ...] = (
    ("GET", "/api/v1/visits/{v}", None),
    ("GET", "/api/v1/visits/{v}/calendar.ics", None),
    ("GET", "/api/v1/visits/{v}/join", None),
    ("POST", "/api/v1/visits/{v}/cancel", {}),
    ("POST", "/api/v1/visits/{v}/reschedule", {"slot_id": "s1"}),
    ("GET", "/api/v1/visits/{v}/attachments", None),
    ("GET", "/api/v1/visits/{v}/report", None),
    ("GET", "/fhir/R4/Appointment/{v}", None),
    ("GET", "/visits/{v}", None),
    ("GET", "/visits/{v}/check-in", None),
    ("GET", "/visits/{v}/report", None),
    ("GET", "/visits/{v}/move", None),
    ("GET", "/visits/{v}/cancel", None),
)


async def _answer(client: TestClient[Any, Any], method: str, path: str,
                  body: dict[str, Any] | None, headers: dict[str, str]) -> tuple[int, str]:
    """The status and the error code (or the body's start) of a request."""
    resp = await client.request(method, path, json=body, headers=headers,
                                allow_redirects=False)
    await resp.read()
    if resp.content_type == "application/json":
        return resp.status, str((await resp.json()).get("error", {}).get("code"))
    return resp.status, ""


async def _visit(world: World, visit_id: str) -> Visit:
    async with world.app[keys.SESSIONS]() as session:
        found = await session.get(Visit, visit_id)
        assert found is not None
        return found


@pytest.mark.parametrize("who", PORTAL_SIDE)
async def test_the_patients_side_finds_no_clinicians_only_visit_by_id(
        client: TestClient[Any, Any], world: World, who: str) -> None:
    w = await consult_visits(client, world)
    hidden, invited = w["visits"]["hidden"], w["visits"]["invited"]
    leaks = []
    for method, path, body in ONE_VISIT:
        unknown = await _answer(client, method, path.format(v=UNKNOWN), body, w["h"][who])
        answer = await _answer(client, method, path.format(v=hidden), body, w["h"][who])
        if answer[0] != 404 or answer != unknown:  # nothing tells it from no visit
            leaks.append((method, path, answer))
    assert not leaks, (who, leaks)
    # The invited consult is theirs (the patient and the caregiver who acts join it).
    if who in ("patient", "caregiver"):
        resp = await client.get(f"/api/v1/visits/{invited}/join", headers=w["h"][who])
        assert resp.status == 200 and (await resp.json())["role"] == "patient"
    # Nothing was changed by the attempts: still scheduled, and the refusals are audited.
    assert (await _visit(world, hidden)).status == "scheduled"


@pytest.mark.parametrize("who", PORTAL_SIDE)
async def test_the_patients_side_lists_no_clinicians_only_visit(
        client: TestClient[Any, Any], world: World, who: str) -> None:
    w = await consult_visits(client, world)
    hidden, invited = w["visits"]["hidden"], w["visits"]["invited"]
    h, patient_id = w["h"][who], w["patient_record"].id
    sees_invited, leaks = who != "stranger", []
    for path in ("/fhir/R4/Appointment", f"/fhir/R4/Appointment?patient={patient_id}"):
        resp = await client.get(path, headers=h)
        if who == "stranger" and "patient=" in path:
            assert resp.status == 403
            continue
        ids = [e["resource"]["id"] for e in (await resp.json()).get("entry", [])]
        leaks += [path] if hidden in ids else []
        assert (invited in ids) is sees_invited, (who, path)
    for path in ("/visits", "/my-record", f"/my-record?patient={patient_id}"):
        leaks += [path] if hidden in await (await client.get(path, headers=h)).text() else []
    assert not leaks, (who, leaks)
    if who in ("patient", "caregiver"):  # the agenda shows the invited consult to come
        assert invited in await (await client.get("/visits", headers=h)).text()
    listed = await client.get("/api/v1/visits", headers=h)
    if who in ("caregiver", "guardian"):  # no record of their own: they use the agenda
        assert listed.status == 403
        return
    items = [v["id"] for v in (await listed.json())["items"]]
    assert hidden not in items
    assert (invited in items) is (who == "patient")


async def test_the_patients_side_is_told_nothing_of_a_clinicians_only_visit(
        client: TestClient[Any, Any], world: World) -> None:
    w = await consult_visits(client, world)
    hidden, invited = w["visits"]["hidden"], w["visits"]["invited"]
    start = (await _visit(world, hidden)).scheduled_start
    async with world.app[keys.SESSIONS]() as session:
        await visit_reminders(session, start - timedelta(minutes=10))
        await session.commit()
    # A clinician cancels it: its participants hear of it, the patient's side does not.
    assert (await client.post(f"/api/v1/visits/{hidden}/cancel", json={},
                              headers=w["h"]["cardio"])).status == 200
    portal = [w[name]["id"] for name in ("patient", "caregiver", "guardian")]
    async with world.app[keys.SESSIONS]() as session:
        told = (await session.exec(select(Notification.cause_id, Notification.user_id,
                                          Notification.kind)
                                   .where(col(Notification.user_id).in_(portal)))).all()
        gp_told = (await session.exec(select(Notification.kind).where(
            Notification.cause_id == hidden, Notification.user_id == w["gp"]["id"]))).all()
    assert not [t for t in told if t[0] == hidden]
    assert {(c, k) for c, _, k in told} >= {(invited, "visit_changed"),
                                             (invited, "visit_reminder")}
    assert "visit_changed" in gp_told


async def test_its_clinicians_and_the_care_team_still_see_it(
        client: TestClient[Any, Any], world: World) -> None:
    w = await consult_visits(client, world)
    hidden, patient_id = w["visits"]["hidden"], w["patient_record"].id
    for who in ("gp", "cardio", "nurse"):  # requester, specialist, a team nurse
        h = w["h"][who]
        for path in (f"/api/v1/visits/{hidden}", f"/api/v1/visits/{hidden}/calendar.ics",
                     f"/fhir/R4/Appointment/{hidden}"):
            assert (await client.get(path, headers=h)).status == 200, (who, path)
        found = await (await client.get(f"/api/v1/visits?patient={patient_id}",
                                        headers=h)).json()
        assert hidden in [v["id"] for v in found["items"]], who
        bundle = await (await client.get(f"/fhir/R4/Appointment?patient={patient_id}",
                                         headers=h)).json()
        assert hidden in [e["resource"]["id"] for e in bundle.get("entry", [])], who
    for who in ("gp", "cardio"):  # the invited clinicians join it
        joined = await client.get(f"/api/v1/visits/{hidden}/join", headers=w["h"][who])
        assert joined.status == 200 and (await joined.json())["role"] == "clinician"
        mine = await (await client.get("/api/v1/visits", headers=w["h"][who])).json()
        assert hidden in [v["id"] for v in mine["items"]], who


async def test_the_patient_keeps_the_access_log_and_the_signed_report(
        client: TestClient[Any, Any], world: World) -> None:
    w = await answered_consult(client, world, mode="live")  # without the patient
    patient_id, h = w["patient"].id, w["h"]
    async with world.app[keys.SESSIONS]() as session:
        visit = (await session.exec(select(Visit).where(Visit.patient_id == patient_id))).one()
    assert visit.patient_invited is False
    assert (await client.get(f"/api/v1/visits/{visit.id}", headers=h["patient"])).status == 404
    # Nor is the request theirs: its attachment is not found either (was 403: it exists).
    attached = await (await client.get(f"/api/v1/teleconsults/{w['consult']['id']}/attachments",
                                       headers=h["gp"])).json()
    one = f"/api/v1/attachments/{attached['items'][0]['id']}"
    assert (await client.get(one, headers=h["gp"])).status == 200
    assert (await client.get(one, headers=h["patient"])).status == 404
    # The access log (and its CSV download) still says who processed their data, and why.
    log = await (await client.get(f"/api/v1/patients/{patient_id}/access-log",
                                  headers=h["patient"])).json()
    seen = {(e["actor_id"], e["resource"], e["resource_id"]) for e in log["items"]}
    assert (w["cardio"]["id"], "visit", visit.id) in seen  # it scheduled the meeting
    assert (w["cardio"]["id"], "teleconsult", w["consult"]["id"]) in seen
    csv = await (await client.get(f"/api/v1/patients/{patient_id}/access-log?format=csv",
                                  headers=h["patient"])).text()
    assert visit.id in csv and w["cardio"]["username"].title() in csv
    # Once co-signed, the consult's report is among their documents, as for any consult.
    assert (await sign(client, w["url"], h["cardio"])).status == 200
    assert (await sign(client, w["url"], h["gp"])).status == 200
    docs = await (await client.get(f"/api/v1/patients/{patient_id}/documents",
                                   headers=h["patient"])).json()
    assert [(d["kind"], d["status"]) for d in docs["items"]] == [("teleconsult_report",
                                                                  "signed")]
    assert (await client.get(w["url"], headers=h["patient"])).status == 200


@pytest.mark.postgres
async def test_lists_leave_them_out_on_postgres(
        aiohttp_client: Callable[[web.Application], Awaitable[TestClient[Any, Any]]],
        postgres_app: web.Application) -> None:
    """The audience condition of the lists (`services.visits.shown_to`) on PostgreSQL."""
    client = await aiohttp_client(postgres_app)
    w = await consult_visits(client, World(postgres_app, client))
    hidden, invited = w["visits"]["hidden"], w["visits"]["invited"]
    fhir = f"/fhir/R4/Appointment?patient={w['patient_record'].id}"
    for who in ("patient", "caregiver", "gp"):
        bundle = await (await client.get(fhir, headers=w["h"][who])).json()
        ids = {e["resource"]["id"] for e in bundle.get("entry", [])}
        if who == "gp":  # the clinicians' side still has both
            assert ids == {hidden, invited}
            continue
        agenda = await (await client.get("/visits", headers=w["h"][who])).text()
        assert ids == {invited} and invited in agenda and hidden not in agenda, who
    mine = await (await client.get("/api/v1/visits", headers=w["h"]["patient"])).json()
    assert [v["id"] for v in mine["items"]] == [invited]
