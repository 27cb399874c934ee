"""Issue #10, access: every access only for its reason.

- Emergency access reads the record (and handles its alerts) for a limited time: no route or
  role gains lasting access from it, whatever write was tried during it (the route table is
  walked, as in test_patient_scope_matrix.py).
- Consent: the patient's latest decision wins; a blanket withdrawal revokes older personal
  grants; the privacy page says what is in force.
- Withdrawing consent is confirmed first; the care team sees the fact and the date; the
  responsible doctor keeps receiving the telemonitoring alerts, nobody else does.
- An administrator sees no clinical value in the access log or the FHIR AuditEvents, and
  gives a delegation only with a written request the patient is told about.
- Emergency accesses are reviewed by the responsible doctor or an administrator.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlmodel import col, select

from telemed import keys
from telemed.db.models import CareTeamMember, EmergencyAccess, Visit
from telemed.db.types import utcnow
from telemed.principal import PUBLIC, policy_of
from tests.conftest import World
from tests.helpers.pages import csrf_of, log_in
from tests.helpers.plans import PLAN
from tests.helpers.routes import all_routes
from tests.helpers.scope_sides import PARAM, Side, patient_scoped, valid_body
from tests.integration.monitoring import add_device, alerts_of, basic, now_s, pack
from tests.integration.visit_helpers import soon

Client = TestClient[Any, Any]
EMERGENCY = {"reason_code": "unable_to_consent",
             "reason": "Paziente incosciente portato in pronto soccorso"}
# Break-glass itself stays open to any clinician (time-limited, reason required, reviewed).
BREAK_GLASS = ("POST", "/api/v1/patients/{patient_id}/emergency-access")
ALERT_ACTIONS = {("POST", f"/api/v1/alerts/{{alert_id}}/{a}") for a in ("ack", "resolve",
                                                                         "snooze")}
# POSTs that change nothing (verifying a document's seal is a read: emergency access reads).
READ_ONLY_POSTS = {("POST", "/api/v1/documents/{document_id}/verify")}


async def _break_glass(client: Client, world: World, patient_id: str,
                       who: dict[str, str]) -> dict[str, Any]:
    resp = await client.post(f"/api/v1/patients/{patient_id}/emergency-access",
                             headers=await world.token(who["username"]), json=EMERGENCY)
    assert resp.status == 201, await resp.text()
    return dict(await resp.json())


async def _expire(client: Client, user_id: str) -> None:
    """The clock moves past the end of the user's emergency accesses."""
    async with client.app[keys.SESSIONS]() as session:
        rows = (await session.exec(select(EmergencyAccess)
                                   .where(EmergencyAccess.user_id == user_id))).all()
        for grant in rows:
            grant.expires_at = utcnow() - timedelta(seconds=1)
            session.add(grant)
        await session.commit()


async def _responsible(client: Client, patient_id: str, user_id: str) -> None:
    async with client.app[keys.SESSIONS]() as session:
        member = await session.get(CareTeamMember, (patient_id, user_id))
        assert member is not None
        member.responsible = True
        session.add(member)
        await session.commit()


async def _consent(client: Client, world: World, patient_id: str, me: dict[str, str],
                   **decision: Any) -> None:
    resp = await client.post(f"/api/v1/patients/{patient_id}/consents",
                             headers=await world.token(me["username"]), json=decision)
    assert resp.status == 201, await resp.text()


# --- emergency access -------------------------------------------------------------------


async def test_emergency_access_ends_at_expiry(client: Client, world: World) -> None:
    doctor, er = await world.user("doctor"), await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    er_h = await world.token(er["username"])
    assert (await client.get(f"/api/v1/patients/{patient.id}", headers=er_h)).status == 403
    grant = await _break_glass(client, world, patient.id, er)
    assert grant["reason_code"] == "unable_to_consent"
    assert (await client.get(f"/api/v1/patients/{patient.id}", headers=er_h)).status == 200
    assert (await client.get(f"/api/v1/patients/{patient.id}/careplans",
                             headers=er_h)).status == 200
    await _expire(client, er["id"])
    assert (await client.get(f"/api/v1/patients/{patient.id}", headers=er_h)).status == 403
    assert (await client.get(f"/api/v1/patients/{patient.id}/careplans",
                             headers=er_h)).status == 403


async def test_emergency_access_is_read_only_and_gives_no_membership(
    client: Client, world: World
) -> None:
    doctor, er = await world.user("doctor"), await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    er_h = await world.token(er["username"])
    await _break_glass(client, world, patient.id, er)
    plan = await client.post(f"/api/v1/patients/{patient.id}/careplans", headers=er_h,
                             json={**PLAN, "care_team": [er["id"]]})
    assert plan.status == 403
    assert (await plan.json())["error"]["code"] == "emergency_access_read_only"
    visit = await client.post("/api/v1/visits", headers=er_h, json={
        "kind": "televisit", "patient_id": patient.id, "participant_ids": [er["id"]],
        "scheduled_start": soon(5), "duration_minutes": 30})
    assert visit.status == 403
    async with client.app[keys.SESSIONS]() as session:
        assert await session.get(CareTeamMember, (patient.id, er["id"])) is None
    # Reason codes are a fixed list.
    bad = await client.post(f"/api/v1/patients/{patient.id}/emergency-access", headers=er_h,
                            json={**EMERGENCY, "reason_code": "because"})
    assert bad.status == 422 and "reason_code" in (await bad.json())["error"]["fields"]


async def test_no_route_keeps_access_after_emergency_expires(client: Client,
                                                             world: World) -> None:
    """Walk the route table: during the emergency try every write; once it expired, every
    patient-scoped route refuses the clinician (403, or 404 for what it cannot see)."""
    mine = await Side(world, "mine").build()
    er = await world.user("doctor")
    er_h = {"Authorization": (await world.token(er["username"]))["Authorization"]}
    routes = [(m, p, h) for m, p, h in all_routes(client.app)
              if policy_of(h) != PUBLIC and patient_scoped(p)]
    # Every resource exists before the emergency (made by the care team).
    for _method, path, _handler in routes:
        for param in PARAM.findall(path):
            await mine.value(param, path)
    await _break_glass(client, world, mine.patient.id, er)

    async def call(method: str, path: str) -> tuple[int, str]:
        url = path
        for param in PARAM.findall(path):
            url = url.replace(f"{{{param}}}", await mine.value(param, path))
        body = await valid_body(method, path, mine)
        if (method, path) == ("POST", "/api/v1/patients/{patient_id}/careplans"):
            body = {**PLAN, "care_team": [er["id"]]}
        if (method, path) == ("POST", "/api/v1/visits"):
            body = {"kind": "televisit", "patient_id": mine.patient.id,
                    "participant_ids": [er["id"]], "scheduled_start": soon(5),
                    "duration_minutes": 30}
        resp = await client.request(method, url, headers=er_h, json=body,
                                    allow_redirects=False)
        return resp.status, (await resp.text())[:300]

    writes = [(m, p) for m, p, _ in routes if m != "GET" and p.startswith("/api/")
              and (PARAM.search(p) or (m, p) == ("POST", "/api/v1/visits"))
              and (m, p) != BREAK_GLASS]
    assert ("POST", "/api/v1/patients/{patient_id}/careplans") in writes
    assert ("POST", "/api/v1/visits/{visit_id}/guests") in writes
    for method, path in writes:
        status, text = await call(method, path)
        if (method, path) in ALERT_ACTIONS | READ_ONLY_POSTS:
            assert status not in (401, 403), (method, path, status, text)  # handled
        else:
            assert status in (403, 404), ("a write allowed by emergency access",
                                          method, path, status, text)

    await _expire(client, er["id"])
    checked = 0
    for method, path, _handler in routes:
        if not PARAM.search(path) or (method, path) == BREAK_GLASS:
            continue
        if not path.startswith(("/api/", "/fhir/")) and method != "GET":
            continue  # page form posts: CSRF-bound, same services as the API routes
        status, text = await call(method, path)
        assert status in (403, 404), ("access kept after the emergency", method, path,
                                      status, text)
        checked += 1
    assert checked > 40
    listed = await (await client.get("/api/v1/patients", headers=er_h)).json()
    assert mine.patient.id not in {p["id"] for p in listed["items"]}
    alerts = await (await client.get("/api/v1/alerts", headers=er_h)).json()
    assert all(a["patient_id"] != mine.patient.id for a in alerts["items"])
    visits = await (await client.get("/api/v1/visits", headers=er_h)).json()
    assert all(v["patient_id"] != mine.patient.id for v in visits["items"])
    for query in ("/api/v1/alerts?patient={}", "/api/v1/visits?patient={}",
                  "/fhir/R4/Observation?patient={}", "/fhir/R4/CarePlan?patient={}",
                  "/fhir/R4/Flag?patient={}", "/fhir/R4/Appointment?patient={}"):
        resp = await client.get(query.format(mine.patient.id), headers=er_h)
        assert resp.status == 403, (query, resp.status)
    async with client.app[keys.SESSIONS]() as session:
        assert await session.get(CareTeamMember, (mine.patient.id, er["id"])) is None


async def test_an_invitation_to_a_visit_is_no_lasting_right(client: Client,
                                                             world: World) -> None:
    doctor, specialist = await world.user("doctor"), await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    made = await client.post("/api/v1/visits", headers=await world.token(doctor["username"]),
                             json={"kind": "teleconsult", "patient_id": patient.id,
                                   "participant_ids": [doctor["id"], specialist["id"]],
                                   "scheduled_start": soon(5), "duration_minutes": 30})
    assert made.status == 201
    visit_id = (await made.json())["id"]
    specialist_h = await world.token(specialist["username"])
    assert (await client.get(f"/api/v1/visits/{visit_id}", headers=specialist_h)).status == 200
    async with client.app[keys.SESSIONS]() as session:  # the visit was ten days ago
        visit = await session.get(Visit, visit_id)
        assert visit is not None
        visit.scheduled_start = utcnow() - timedelta(days=10)
        session.add(visit)
        await session.commit()
    for path in ("", "/report", "/guests", "/calendar.ics"):
        resp = await client.get(f"/api/v1/visits/{visit_id}{path}", headers=specialist_h)
        assert resp.status == 403, (path, resp.status)
    for listing in ("/api/v1/visits", "/fhir/R4/Appointment"):
        found = await (await client.get(listing, headers=specialist_h)).text()
        assert visit_id not in found, listing
    assert (await client.get(f"/fhir/R4/Appointment/{visit_id}",
                             headers=specialist_h)).status == 403
    doctor_h = await world.token(doctor["username"])  # the care team still reads it
    assert (await client.get(f"/api/v1/visits/{visit_id}", headers=doctor_h)).status == 200


# --- consent ---------------------------------------------------------------------------


async def test_blanket_withdrawal_revokes_older_personal_grants(client: Client,
                                                                world: World) -> None:
    doctor, nurse = await world.user("doctor"), await world.user("nurse")
    patient = await world.patient(team=[doctor["id"], nurse["id"]])
    me = await world.user("patient", patient_id=patient.id)
    doctor_h = await world.token(doctor["username"])
    nurse_h = await world.token(nurse["username"])
    url = f"/api/v1/patients/{patient.id}"
    me_h = await world.token(me["username"])  # before the browser session below
    await _consent(client, world, patient.id, me, granted=True, grantee_id=doctor["id"])
    await _consent(client, world, patient.id, me, granted=False)  # blanket, later
    assert (await client.get(url, headers=doctor_h)).status == 403
    assert (await client.get(url, headers=nurse_h)).status == 403
    assert (await client.get("/api/v1/patients", headers=doctor_h)).status == 200
    listed = await (await client.get("/api/v1/patients", headers=doctor_h)).json()
    assert listed["items"] == []

    await log_in(client, me["username"])
    html = await (await client.get(f"/patients/{patient.id}/privacy")).text()
    assert "Nobody on the care team may open this record now" in html

    # A personal grant made after the withdrawal stands (and the page says so).
    resp = await client.post(f"{url}/consents", headers=me_h,
                             json={"granted": True, "grantee_id": doctor["id"]})
    assert resp.status == 201
    assert (await client.get(url, headers=doctor_h)).status == 200
    assert (await client.get(url, headers=nurse_h)).status == 403
    html = await (await client.get(f"/patients/{patient.id}/privacy")).text()
    assert "except these people, whom you allowed by name" in html
    assert doctor["username"].title() in html
    assert "Nobody on the care team may open this record now" not in html


async def test_a_personal_refusal_survives_a_later_blanket_grant(client: Client,
                                                                  world: World) -> None:
    doctor, nurse = await world.user("doctor"), await world.user("nurse")
    patient = await world.patient(team=[doctor["id"], nurse["id"]])
    me = await world.user("patient", patient_id=patient.id)
    await _consent(client, world, patient.id, me, granted=False, grantee_id=doctor["id"])
    await _consent(client, world, patient.id, me, granted=False)
    await _consent(client, world, patient.id, me, granted=True)
    url = f"/api/v1/patients/{patient.id}"
    assert (await client.get(url, headers=await world.token(doctor["username"]))).status == 403
    assert (await client.get(url, headers=await world.token(nurse["username"]))).status == 200
    await log_in(client, me["username"])
    html = await (await client.get(f"/patients/{patient.id}/privacy")).text()
    assert "Except these people, whom you refused by name" in html


async def test_withdrawing_from_the_page_needs_a_confirmation(client: Client,
                                                              world: World) -> None:
    doctor = await world.user("doctor", name="drbianchi")
    patient = await world.patient(team=[doctor["id"]])
    await _responsible(client, patient.id, doctor["id"])
    me = await world.user("patient", patient_id=patient.id)
    doctor_h = await world.token(doctor["username"])
    await log_in(client, me["username"])
    csrf = await csrf_of(client, f"/patients/{patient.id}/privacy")
    one_click = await client.post(f"/patients/{patient.id}/privacy/consent",
                                  data={"granted": "no", "csrf_token": csrf},
                                  allow_redirects=False)
    assert one_click.status == 303
    assert one_click.headers["Location"] == f"/patients/{patient.id}/privacy/withdraw"
    assert (await client.get(f"/api/v1/patients/{patient.id}", headers=doctor_h)).status == 200

    page = await (await client.get(f"/patients/{patient.id}/privacy/withdraw")).text()
    assert "Your telemonitoring" in page and "Drbianchi" in page
    assert "Your visits" in page and 'name="confirm" value="yes"' in page
    await client.post("/language", data={"lang": "it", "csrf_token": csrf,
                                         "next": "/"}, allow_redirects=False)
    italian = await (await client.get(f"/patients/{patient.id}/privacy/withdraw")).text()
    assert "Il tuo telemonitoraggio" in italian

    confirmed = await client.post(f"/patients/{patient.id}/privacy/consent",
                                  data={"granted": "no", "confirm": "yes",
                                        "csrf_token": csrf}, allow_redirects=False)
    assert confirmed.status == 303
    assert (await client.get(f"/api/v1/patients/{patient.id}", headers=doctor_h)).status == 403


async def test_after_withdrawal_alerts_reach_the_responsible_doctor_only(
    client: Client, world: World
) -> None:
    doctor, other_doctor = await world.user("doctor"), await world.user("doctor")
    nurse = await world.user("nurse")
    patient = await world.patient(team=[doctor["id"], other_doctor["id"], nurse["id"]])
    await _responsible(client, patient.id, doctor["id"])
    me = await world.user("patient", patient_id=patient.id)
    device = await add_device(client.app, patient.id)
    await _consent(client, world, patient.id, me, granted=False)
    resp = await client.post(f"/api/v1/devices/{device}/readings", headers=basic(device),
                             data=pack(("spo2", 84, "%", now_s() - 5)))
    assert resp.status == 200
    [alert] = await alerts_of(client.app, patient.id)
    doctor_h = await world.token(doctor["username"])
    nurse_h = await world.token(nurse["username"])
    other_h = await world.token(other_doctor["username"])

    # The responsible doctor: the alert, and acting on it; not the record.
    seen = await (await client.get("/api/v1/alerts", headers=doctor_h)).json()
    assert [a["id"] for a in seen["items"]] == [alert.id]
    ack = await client.post(f"/api/v1/alerts/{alert.id}/ack", headers=doctor_h, json={})
    assert ack.status == 200
    record = await client.get(f"/api/v1/patients/{patient.id}/observations", headers=doctor_h)
    assert record.status == 403
    assert (await record.json())["error"]["code"] == "consent_withdrawn"  # not a bare 403
    board = await (await client.get("/alerts", headers=doctor_h)).text()
    assert f'id="alert-{alert.id}"' in board and "Consent withdrawn on" in board
    assert "Not shown: the patient withdrew consent" in board

    # Everybody else on the team: the fact and the date, not the alert.
    for headers in (nurse_h, other_h):
        listed = await (await client.get("/api/v1/alerts", headers=headers)).json()
        assert listed["items"] == []
        refused = await client.post(f"/api/v1/alerts/{alert.id}/resolve", headers=headers,
                                    json={"note": "ok"})
        assert refused.status == 403
    board = await (await client.get("/alerts", headers=nurse_h)).text()
    assert "Patients who withdrew consent" in board and patient.family_name in board
    assert f'id="alert-{alert.id}"' not in board
    patients = await (await client.get("/patients", headers=nurse_h)).text()
    assert "Patients who withdrew consent" in patients and patient.family_name in patients
    page = await client.get(f"/patients/{patient.id}", headers=nurse_h)
    assert page.status == 403
    assert "Consent withdrawn on" in await page.text()


# --- administrators ---------------------------------------------------------------------

MARKERS = ("NOTA-", "Oxygen", "saturation", "84 %", "overdose", "dispnea")


async def test_an_admin_sees_no_clinical_value_in_the_audit(client: Client,
                                                            world: World) -> None:
    """Events of every kind of clinical action; the admin's access log (JSON and CSV) and
    FHIR AuditEvents carry none of their values or notes."""
    doctor, er = await world.user("doctor"), await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    me = await world.user("patient", patient_id=patient.id)
    admin_h = await world.token((await world.user("admin"))["username"])
    doctor_h = await world.token(doctor["username"])
    device = await add_device(client.app, patient.id)
    plan = await client.post(f"/api/v1/patients/{patient.id}/careplans", headers=doctor_h,
                             json={**PLAN, "goals": ["NOTA-obiettivo dispnea"]})
    assert plan.status == 201
    plan_id = (await plan.json())["id"]
    assert (await client.post(f"/api/v1/careplans/{plan_id}/activate",
                              headers=doctor_h)).status == 200
    assert (await client.patch(f"/api/v1/careplans/{plan_id}", headers=doctor_h,
                               json={"goals": ["NOTA-dispnea"]})).status == 200
    for value in (84, 80):
        resp = await client.post(f"/api/v1/devices/{device}/readings", headers=basic(device),
                                 data=pack(("spo2", value, "%", now_s() - 10 + value / 100)))
        assert resp.status == 200
    alert = (await alerts_of(client.app, patient.id))[0]
    for action, body in (("ack", {"note": "NOTA-ack saturation 84 %"}),
                         ("snooze", {"minutes": 30}),
                         ("resolve", {"note": "NOTA-resolve ossigeno"})):
        resp = await client.post(f"/api/v1/alerts/{alert.id}/{action}", headers=doctor_h,
                                 json=body)
        assert resp.status == 200, await resp.text()
    assert (await client.get(f"/api/v1/patients/{patient.id}/observations",
                             headers=doctor_h)).status == 200
    visit = await client.post("/api/v1/visits", headers=doctor_h, json={
        "kind": "televisit", "patient_id": patient.id, "participant_ids": [doctor["id"]],
        "scheduled_start": soon(5), "duration_minutes": 30})
    assert visit.status == 201
    await client.post(f"/api/v1/patients/{patient.id}/emergency-access",
                      headers=await world.token(er["username"]),
                      json={"reason_code": "urgent_clinical_need",
                            "reason": "NOTA-sospetta overdose, dispnea"})
    await _consent(client, world, patient.id, me, granted=False,
                   note="NOTA-consenso: non voglio che si sappia della dispnea")

    log = await client.get(f"/api/v1/patients/{patient.id}/access-log?limit=1000",
                           headers=admin_h)
    assert log.status == 200
    items = (await log.json())["items"]
    kinds = {(e["action"], e["resource"]) for e in items}
    assert {("create", "alert"), ("update", "alert"), ("emergency", "patient"),
            ("update", "consent"), ("create", "careplan"), ("read", "observation")} <= kinds
    csv_text = await (await client.get(
        f"/api/v1/patients/{patient.id}/access-log?format=csv&limit=1000",
        headers=admin_h)).text()
    fhir_text = await (await client.get(f"/fhir/R4/AuditEvent?patient={patient.id}&_count=200",
                                        headers=admin_h)).text()
    page = await (await client.get(f"/patients/{patient.id}/privacy", headers=admin_h)).text()
    for shown in (str(items), csv_text, fhir_text, page):
        for marker in MARKERS:
            assert marker not in shown, (marker, shown[:2000])
    # The patient still sees the emergency's reason in words on their privacy page.
    await log_in(client, me["username"])
    own = await (await client.get(f"/patients/{patient.id}/privacy")).text()
    assert "NOTA-sospetta overdose" in own and "Urgent clinical need" in own


async def test_admin_delegation_needs_a_written_request_and_tells_the_patient(
    client: Client, world: World
) -> None:
    patient = await world.patient()
    me = await world.user("patient", patient_id=patient.id)
    admin = await world.user("admin")
    admin_h = await world.token(admin["username"])
    me_h = await world.token(me["username"])
    stooge = await world.user("patient")  # a portal account the administrator controls
    url = f"/api/v1/patients/{patient.id}/delegates"
    bare = await client.post(url, headers=admin_h, json={
        "delegate_username": stooge["username"], "relationship": "caregiver"})
    assert bare.status == 422
    assert "request_note" in (await bare.json())["error"]["fields"]
    stooge_h = await world.token(stooge["username"])
    assert (await client.get(f"/api/v1/patients/{patient.id}/observations",
                             headers=stooge_h)).status == 403
    made = await client.post(url, headers=admin_h, json={
        "delegate_username": stooge["username"], "relationship": "caregiver",
        "request_note": "Richiesta scritta prot. 77/2026"})
    assert made.status == 201
    assert (await made.json())["request_note"] == "Richiesta scritta prot. 77/2026"
    log = await (await client.get(f"/api/v1/patients/{patient.id}/access-log",
                                  headers=me_h)).json()
    line = next(e for e in log["items"] if (e["action"], e["resource"]) == ("create",
                                                                              "delegation"))
    assert line["actor_id"] == admin["id"] and "prot. 77/2026" in line["reason"]
    # A patient's own delegation needs no request.
    friend = await world.user("patient")
    own = await client.post(url, headers=me_h, json={
        "delegate_username": friend["username"], "relationship": "caregiver"})
    assert own.status == 201 and (await own.json())["request_note"] is None
    await log_in(client, me["username"])
    html = await (await client.get(f"/patients/{patient.id}/privacy")).text()
    assert "Access given by the administration" in html and "prot. 77/2026" in html


async def test_admin_consent_decision_needs_a_written_request(client: Client,
                                                              world: World) -> None:
    patient = await world.patient()
    admin_h = await world.token((await world.user("admin"))["username"])
    url = f"/api/v1/patients/{patient.id}/consents"
    assert (await client.post(url, headers=admin_h, json={"granted": True})).status == 422
    assert (await client.post(url, headers=admin_h, json={
        "granted": True, "note": "Richiesta scritta prot. 78/2026"})).status == 201


# --- review -------------------------------------------------------------------------


async def test_emergency_accesses_are_reviewed_by_the_responsible_doctor_or_an_admin(
    client: Client, world: World
) -> None:
    doctor, colleague, er = (await world.user("doctor"), await world.user("doctor"),
                             await world.user("doctor"))
    patient = await world.patient(team=[doctor["id"], colleague["id"]])
    await _responsible(client, patient.id, doctor["id"])
    me = await world.user("patient", patient_id=patient.id)
    grant = await _break_glass(client, world, patient.id, er)
    doctor_h = await world.token(doctor["username"])
    admin_h = await world.token((await world.user("admin"))["username"])
    colleague_h = await world.token(colleague["username"])
    er_h = await world.token(er["username"])

    queue = await (await client.get("/api/v1/emergency-accesses?pending=true",
                                    headers=doctor_h)).json()
    [item] = [i for i in queue["items"] if i["id"] == grant["id"]]
    assert item["reason"] == EMERGENCY["reason"] and item["patient_name"]
    admin_queue = await (await client.get("/api/v1/emergency-accesses",
                                          headers=admin_h)).json()
    [seen] = [i for i in admin_queue["items"] if i["id"] == grant["id"]]
    assert seen["reason"] is None and seen["reason_code"] == "unable_to_consent"
    assert seen["clinician_name"] == er["username"].title()
    colleague_queue = await (await client.get("/api/v1/emergency-accesses",
                                              headers=colleague_h)).json()
    assert all(i["id"] != grant["id"] for i in colleague_queue["items"])
    review = f"/api/v1/emergency-accesses/{grant['id']}/review"
    assert (await client.post(review, headers=colleague_h,
                              json={"outcome": "confirmed"})).status == 403
    assert (await client.post(review, headers=er_h, json={"outcome": "confirmed"})).status == 403
    assert (await client.post(review, headers=doctor_h,
                              json={"outcome": "flagged"})).status == 422  # why?
    done = await client.post(review, headers=doctor_h,
                             json={"outcome": "flagged", "note": "Non era un'emergenza"})
    assert done.status == 200
    assert (await done.json())["review_outcome"] == "flagged"
    again = await client.post(review, headers=admin_h, json={"outcome": "confirmed"})
    assert again.status == 409

    page = await (await client.get("/emergency-reviews", headers=admin_h)).text()
    assert patient.family_name in page and "Patient unconscious or unable to consent" in page
    assert EMERGENCY["reason"] not in page
    await log_in(client, me["username"])
    html = await (await client.get(f"/patients/{patient.id}/privacy")).text()
    assert "flagged" in html and doctor["username"].title() in html
    assert EMERGENCY["reason"] in html


async def test_the_review_page_form_records_a_review(client: Client, world: World) -> None:
    doctor, er = await world.user("doctor"), await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    grant = await _break_glass(client, world, patient.id, er)
    await log_in(client, doctor["username"])
    csrf = await csrf_of(client, "/emergency-reviews")
    html = await (await client.get("/emergency-reviews")).text()
    assert f'/emergency-reviews/{grant["id"]}' in html and EMERGENCY["reason"] in html
    resp = await client.post(f"/emergency-reviews/{grant['id']}",
                             data={"outcome": "confirmed", "csrf_token": csrf},
                             allow_redirects=False)
    assert resp.status == 303
    async with client.app[keys.SESSIONS]() as session:
        row = (await session.exec(select(EmergencyAccess)
                                  .where(col(EmergencyAccess.id) == grant["id"]))).one()
    assert (row.review_outcome, row.reviewed_by) == ("confirmed", doctor["id"])
