"""Visits through the API: scheduling rules, access, lifecycle, join, report, calendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from icalendar import Calendar
from sqlmodel import select

from telemed import keys
from telemed.db.models import AuditEvent
from telemed.services import visits as visit_service
from telemed.settings import load_settings
from tests.conftest import World
from tests.integration.visit_helpers import make_visit, soon


def _body(patient_id: str, participants: list[str], **changes: Any) -> dict[str, Any]:
    return {"kind": "televisit", "patient_id": patient_id, "participant_ids": participants,
            "scheduled_start": soon(30), "duration_minutes": 20, **changes}


async def _advance(world: World, visit_id: str, phase: Any) -> None:
    async with world.app[keys.SESSIONS]() as session:
        await visit_service.advance(session, visit_id, phase)


async def test_schedule_and_read_back(client: TestClient[Any, Any], world: World) -> None:
    doctor = await world.user("doctor")
    nurse = await world.user("nurse")
    patient = await world.patient(team=[doctor["id"]])
    headers = await world.token(doctor["username"])
    resp = await client.post("/api/v1/visits", headers=headers,
                             json=_body(patient.id, [doctor["id"], nurse["id"]]))
    assert resp.status == 201, await resp.text()
    visit = await resp.json()
    assert visit["status"] == "scheduled" and visit["kind"] == "televisit"
    assert sorted(visit["participant_ids"]) == sorted([doctor["id"], nurse["id"]])
    assert visit["started_at"] is None and visit["ended_at"] is None
    start = datetime.fromisoformat(visit["scheduled_start"])
    assert start.tzinfo is not None
    assert datetime.fromisoformat(visit["join_opens_at"]) == start - timedelta(minutes=15)
    assert datetime.fromisoformat(visit["join_closes_at"]) == start + timedelta(minutes=50)
    again = await client.get(f"/api/v1/visits/{visit['id']}", headers=headers)
    assert again.status == 200 and (await again.json()) == visit
    # The invited nurse is not on the care team but may see the visit (audited as such).
    nurse_view = await client.get(f"/api/v1/visits/{visit['id']}",
                                  headers=await world.token(nurse["username"]))
    assert nurse_view.status == 200
    async with world.app[keys.SESSIONS]() as session:
        events = (await session.exec(select(AuditEvent).where(
            AuditEvent.resource_id == visit["id"]))).all()
    assert any(e.actor_id == nurse["id"] and e.reason_code == "visit_participant" for e in events)
    assert any(e.actor_id == doctor["id"] and e.action == "create" for e in events)


@pytest.mark.parametrize(("changes", "field"), [
    ({"kind": "phone_call"}, "kind"),
    ({"duration_minutes": 4}, "duration_minutes"),
    ({"duration_minutes": 241}, "duration_minutes"),
    ({"scheduled_start": "2020-01-01T10:00:00+01:00"}, "scheduled_start"),
    ({"scheduled_start": "2999-01-01T10:00:00"}, "scheduled_start"),  # no offset
    ({"participant_ids": []}, "participant_ids"),
])
async def test_schedule_validation(client: TestClient[Any, Any], world: World,
                                   changes: dict[str, Any], field: str) -> None:
    doctor = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    resp = await client.post("/api/v1/visits", headers=await world.token(doctor["username"]),
                             json=_body(patient.id, [doctor["id"]], **changes))
    assert resp.status == 422, await resp.text()
    assert field in (await resp.json())["error"]["fields"]


async def test_participants_must_be_clinicians(client: TestClient[Any, Any],
                                               world: World) -> None:
    doctor = await world.user("doctor")
    admin = await world.user("admin")
    patient = await world.patient(team=[doctor["id"]])
    patient_user = await world.user("patient", patient_id=patient.id)
    headers = await world.token(doctor["username"])
    for bad in (patient_user["id"], admin["id"], "no-such-user"):
        resp = await client.post("/api/v1/visits", headers=headers,
                                 json=_body(patient.id, [doctor["id"], bad]))
        assert resp.status == 422
        assert "participant_ids[1]" in (await resp.json())["error"]["fields"]


async def test_only_clinicians_with_access_schedule(client: TestClient[Any, Any],
                                                    world: World) -> None:
    doctor = await world.user("doctor")
    stranger = await world.user("doctor")
    admin = await world.user("admin")
    patient = await world.patient(team=[doctor["id"]])
    patient_user = await world.user("patient", patient_id=patient.id)
    body = _body(patient.id, [doctor["id"]])
    for person, status in ((stranger, 403), (admin, 403), (patient_user, 403)):
        resp = await client.post("/api/v1/visits", json=body,
                                 headers=await world.token(person["username"]))
        assert resp.status == status, person
    assert (await client.post("/api/v1/visits", json=body)).status == 401


async def test_who_may_read_a_visit(client: TestClient[Any, Any], world: World) -> None:
    setup = await make_visit(world)
    stranger = await world.user("doctor")
    admin = await world.user("admin")
    other_patient = await world.patient()
    other_patient_user = await world.user("patient", patient_id=other_patient.id)
    url = f"/api/v1/visits/{setup.visit_id}"
    for person, status in ((setup.doctor, 200), (setup.patient_user, 200), (stranger, 403),
                           (admin, 403), (other_patient_user, 403)):
        headers = setup.headers.get(person["username"]) or await world.token(person["username"])
        assert (await client.get(url, headers=headers)).status == status, person
    assert (await client.get("/api/v1/visits/nope",
                             headers=setup.headers[setup.doctor["username"]])).status == 404


async def test_cancel(client: TestClient[Any, Any], world: World) -> None:
    setup = await make_visit(world)
    doctor_headers = setup.headers[setup.doctor["username"]]
    patient_headers = setup.headers[setup.patient_user["username"]]
    url = f"/api/v1/visits/{setup.visit_id}"
    # A patient may cancel their own visit, but not within the cut-off (24 h by default).
    late = await client.post(f"{url}/cancel", headers=patient_headers)
    assert late.status == 409 and (await late.json())["error"]["code"] == "past_cutoff"
    resp = await client.post(f"{url}/cancel", headers=doctor_headers)
    assert resp.status == 200 and (await resp.json())["status"] == "cancelled"
    assert (await client.post(f"{url}/cancel", headers=doctor_headers)).status == 409
    join = await client.get(f"{url}/join", headers=patient_headers)
    assert join.status == 409 and (await join.json())["error"]["code"] == "visit_cancelled"


async def test_lifecycle_moves_forward_only(world: World, client: TestClient[Any, Any]) -> None:
    setup = await make_visit(world)
    await _advance(world, setup.visit_id, "in_progress")
    await _advance(world, setup.visit_id, "waiting")
    resp = await client.get(f"/api/v1/visits/{setup.visit_id}",
                            headers=setup.headers[setup.doctor["username"]])
    visit = await resp.json()
    assert visit["status"] == "in_progress" and visit["started_at"]
    await _advance(world, setup.visit_id, "completed")
    resp = await client.get(f"/api/v1/visits/{setup.visit_id}",
                            headers=setup.headers[setup.doctor["username"]])
    assert (await resp.json())["status"] == "completed"
    resp = await client.post(f"/api/v1/visits/{setup.visit_id}/cancel",
                             headers=setup.headers[setup.doctor["username"]])
    assert resp.status == 409


async def test_join_window_and_join_payload(client: TestClient[Any, Any], world: World) -> None:
    early = await make_visit(world, start_minutes=30)
    resp = await client.get(f"/api/v1/visits/{early.visit_id}/join",
                            headers=early.headers[early.patient_user["username"]])
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "too_early"

    setup = await make_visit(world, start_minutes=14)
    stranger = await world.user("doctor")
    url = f"/api/v1/visits/{setup.visit_id}/join"
    assert (await client.get(url, headers=await world.token(stranger["username"]))).status == 403
    doctor = await (await client.get(url, headers=setup.headers[setup.doctor["username"]])).json()
    assert doctor["role"] == "clinician"
    assert doctor["ws_url"] == f"ws://127.0.0.1:8080/ws/visits/{setup.visit_id}"
    assert doctor["token"] and doctor["ice_servers"] == []
    patient = await (await client.get(
        url, headers=setup.headers[setup.patient_user["username"]])).json()
    assert patient["role"] == "patient" and patient["token"] != doctor["token"]


async def test_join_window_closes_30_minutes_after_the_end() -> None:
    from telemed.db.models import Visit

    start = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    visit = Visit(kind="televisit", patient_id="p", scheduled_start=start, duration_minutes=20,
                  created_by="u")
    visit_service.check_joinable(visit, start - timedelta(minutes=15))
    visit_service.check_joinable(visit, start + timedelta(minutes=50))
    for moment, code in ((start - timedelta(minutes=15, seconds=1), "too_early"),
                         (start + timedelta(minutes=50, seconds=1), "too_late")):
        with pytest.raises(Exception) as refused:
            visit_service.check_joinable(visit, moment)
        assert getattr(refused.value, "code", None) == code


async def test_join_carries_turn_credentials(tmp_path: Any, settings: Any,
                                             aiohttp_client: Any) -> None:
    from telemed.app import create_app
    from telemed.services.turn import turn_password

    with_turn = load_settings(**{**settings.model_dump(include={
        "env", "data_dir", "database_url", "secret_key", "public_url", "language"}),
        "stun_urls": "stun:stun.example:3478", "turn_urls": "turn:turn.example:3478",
        "turn_secret": "turn-secret", "turn_ttl": 900})
    client = await aiohttp_client(create_app(with_turn))
    world = World(client.app, client)
    setup = await make_visit(world)
    resp = await client.get(f"/api/v1/visits/{setup.visit_id}/join",
                            headers=setup.headers[setup.patient_user["username"]])
    servers = (await resp.json())["ice_servers"]
    assert servers[0] == {"urls": ["stun:stun.example:3478"]}
    turn = servers[1]
    expiry, pseudonym = turn["username"].split(":")
    assert abs(int(expiry) - (datetime.now(UTC).timestamp() + 900)) < 5
    assert setup.patient_user["id"] not in pseudonym and setup.patient_user["username"] not in (
        pseudonym)
    assert turn["credential"] == turn_password("turn-secret", turn["username"])


async def test_lists_per_role_and_pagination(client: TestClient[Any, Any], world: World) -> None:
    doctor = await world.user("doctor")
    other = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"], other["id"]])
    patient_user = await world.user("patient", patient_id=patient.id)
    headers = await world.token(doctor["username"])
    ids = []
    for minutes in (90, 30, 60):
        resp = await client.post("/api/v1/visits", headers=headers,
                                 json=_body(patient.id, [doctor["id"]],
                                            scheduled_start=soon(minutes)))
        ids.append((minutes, (await resp.json())["id"]))
    expected = [visit_id for _, visit_id in sorted(ids)]
    first = await (await client.get("/api/v1/visits?limit=2", headers=headers)).json()
    assert [v["id"] for v in first["items"]] == expected[:2] and first["next_cursor"]
    rest = await (await client.get(f"/api/v1/visits?limit=2&cursor={first['next_cursor']}",
                                   headers=headers)).json()
    assert [v["id"] for v in rest["items"]] == expected[2:]
    # Another doctor is not a participant: their own list is empty, but the patient's
    # visits are visible to a care-team member who asks for them.
    other_headers = await world.token(other["username"])
    assert (await (await client.get("/api/v1/visits", headers=other_headers)).json())[
        "items"] == []
    by_patient = await client.get(f"/api/v1/visits?patient={patient.id}", headers=other_headers)
    assert len((await by_patient.json())["items"]) == 3
    mine = await client.get("/api/v1/visits", headers=await world.token(patient_user["username"]))
    assert len((await mine.json())["items"]) == 3
    admin = await world.user("admin")
    assert (await client.get("/api/v1/visits",
                             headers=await world.token(admin["username"]))).status == 403
    bad = await client.get("/api/v1/visits?from=yesterday", headers=headers)
    assert bad.status == 400


async def test_todays_and_next_visit(world: World, client: TestClient[Any, Any]) -> None:
    setup = await make_visit(world, start_minutes=20)
    async with world.app[keys.SESSIONS]() as session:
        from telemed.db.models import User
        from telemed.services.users import to_principal

        doctor_row = await session.get(User, setup.doctor["id"])
        patient_row = await session.get(User, setup.patient_user["id"])
        assert doctor_row is not None and patient_row is not None
        doctor = to_principal(doctor_row, "session")
        patient = to_principal(patient_row, "session")
        now = datetime.now(UTC)
        today = await visit_service.todays_visits(session, doctor, timezone="UTC", now=now)
        upcoming = await visit_service.next_visit(session, patient, now=now)
        later = await visit_service.next_visit(session, patient, now=now + timedelta(hours=2))
    if (now + timedelta(minutes=20)).date() == now.date():
        assert [r.visit.id for r in today] == [setup.visit_id]
    assert upcoming is not None and upcoming.visit.id == setup.visit_id
    assert later is None


async def test_calendar_export(client: TestClient[Any, Any], world: World) -> None:
    setup = await make_visit(world)
    url = f"/api/v1/visits/{setup.visit_id}/calendar.ics"
    resp = await client.get(url, headers={**setup.headers[setup.patient_user["username"]],
                                          "Accept-Language": "en"})
    assert resp.status == 200 and resp.content_type == "text/calendar"
    assert "attachment" in resp.headers["Content-Disposition"]
    raw = await resp.read()
    calendar = Calendar.from_ical(raw)
    [event] = calendar.walk("VEVENT")
    assert str(event["uid"]).startswith(f"visit-{setup.visit_id}@")
    visit = await (await client.get(f"/api/v1/visits/{setup.visit_id}",
                                    headers=setup.headers[setup.doctor["username"]])).json()
    start = datetime.fromisoformat(visit["scheduled_start"]).replace(microsecond=0)
    assert event.decoded("dtstart") == start
    assert event.decoded("dtend") - event.decoded("dtstart") == timedelta(minutes=30)
    assert str(event["summary"]) == "Televisit" and str(event["status"]) == "CONFIRMED"
    assert f"/visits/{setup.visit_id}" in str(event["url"])
    async with world.app[keys.SESSIONS]() as session:
        from telemed.db.models import Patient

        patient = await session.get(Patient, setup.patient_id)
    assert patient is not None
    assert patient.family_name.encode() not in raw and patient.fiscal_code.encode() not in raw
    stranger = await world.user("doctor")
    assert (await client.get(url, headers=await world.token(stranger["username"]))).status == 403
