"""Booking (docs/booking.md): availability, free slots, booking, moving, cancelling, races."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestClient
from sqlmodel import select

from telemed import keys
from telemed.db.models import Booking, Notification, Visit
from tests.conftest import World
from tests.helpers.booking import (
    ahead,
    open_clinic,
    patient_user,
    race,
    second_booking_refused,
    slots,
)


async def test_published_hours_make_slots_in_local_time(client: TestClient[Any, Any],
                                                        world: World) -> None:
    clinic = await open_clinic(world)
    doctor_h = clinic.headers[clinic.doctor["username"]]
    found = await slots(client, clinic, doctor_h)
    assert len(found) == 6  # 09:00–11:00 in 20-minute slots
    local = [datetime.fromisoformat(s["start"]).astimezone(ZoneInfo("Europe/Rome"))
             for s in found]
    assert [t.strftime("%H:%M") for t in local] == ["09:00", "09:20", "09:40", "10:00",
                                                    "10:20", "10:40"]
    assert {s["clinician_id"] for s in found} == {clinic.doctor["id"]}
    listed = await (await client.get("/api/v1/availability", headers=doctor_h)).json()
    assert [(r["start"], r["end"]) for r in listed["items"]] == [("09:00", "11:00")]


async def test_overlapping_and_bad_hours_are_refused(client: TestClient[Any, Any],
                                                     world: World) -> None:
    clinic = await open_clinic(world)
    h = clinic.headers[clinic.doctor["username"]]
    weekday = ahead().astimezone(ZoneInfo("Europe/Rome")).weekday()
    resp = await client.post("/api/v1/availability", headers=h, json={
        "weekday": weekday, "start": "10:40", "end": "12:00", "slot_minutes": 20})
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "availability_overlap"
    resp = await client.post("/api/v1/availability", headers=h, json={
        "weekday": 9, "start": "25:00", "end": "x", "slot_minutes": 1, "kind": "teleconsult"})
    assert resp.status == 422
    assert set((await resp.json())["error"]["fields"]) == {"weekday", "start", "end",
                                                            "slot_minutes", "kind"}
    listed = await (await client.get("/api/v1/availability", headers=h)).json()
    assert len(listed["items"]) == 1  # nothing changed


async def test_day_off_removes_slots(client: TestClient[Any, Any], world: World) -> None:
    clinic = await open_clinic(world)
    h = clinic.headers[clinic.doctor["username"]]
    day = clinic.day.astimezone(ZoneInfo("Europe/Rome")).date().isoformat()
    resp = await client.post("/api/v1/availability/exceptions", headers=h,
                             json={"first_day": day, "last_day": day, "note": "Congresso"})
    assert resp.status == 201, await resp.text()
    assert await slots(client, clinic, h) == []
    await client.delete(f"/api/v1/availability/exceptions/{(await resp.json())['id']}",
                        headers=h)
    assert len(await slots(client, clinic, h)) == 6


async def test_patient_books_moves_and_cancels(client: TestClient[Any, Any],
                                               world: World, app: Any) -> None:
    clinic = await open_clinic(world)
    patient = await patient_user(world, clinic)
    ph = clinic.headers[patient["username"]]
    free = await slots(client, clinic, ph)
    resp = await client.post("/api/v1/visits", headers=ph,
                             json={"slot_id": free[0]["id"], "reason": "  Pressione   alta "})
    assert resp.status == 201, await resp.text()
    visit = await resp.json()
    assert visit["patient_id"] == patient["patient_id"]
    assert visit["participant_ids"] == [clinic.doctor["id"]]
    assert visit["scheduled_start"] == free[0]["start"] and visit["duration_minutes"] == 20
    assert visit["kind"] == "televisit" and visit["status"] == "scheduled"
    # the slot is gone from the list; the doctor was told
    assert [s["id"] for s in await slots(client, clinic, ph)] == [s["id"] for s in free[1:]]
    async with app[keys.SESSIONS]() as session:
        told = (await session.exec(select(Notification.user_id).where(
            Notification.cause_id == visit["id"]))).all()
        assert told == [clinic.doctor["id"]]
        booking = (await session.exec(select(Booking))).one()
        assert booking.reason == "Pressione alta"
    # move it to the last slot
    resp = await client.post(f"/api/v1/visits/{visit['id']}/reschedule", headers=ph,
                             json={"slot_id": free[-1]["id"]})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["scheduled_start"] == free[-1]["start"]
    ids = [s["id"] for s in await slots(client, clinic, ph)]
    assert free[0]["id"] in ids and free[-1]["id"] not in ids
    # cancel it: the slot is free again
    resp = await client.post(f"/api/v1/visits/{visit['id']}/cancel", headers=ph)
    assert resp.status == 200 and (await resp.json())["status"] == "cancelled"
    assert len(await slots(client, clinic, ph)) == 6
    async with app[keys.SESSIONS]() as session:
        kinds = (await session.exec(select(Notification.kind).where(
            Notification.cause_id == visit["id"]))).all()
        assert kinds == ["visit_changed"] * 3  # booked, moved, cancelled


async def test_the_doctor_sees_bookings_and_the_agenda(client: TestClient[Any, Any],
                                                       world: World) -> None:
    clinic = await open_clinic(world)
    patient = await patient_user(world, clinic)
    free = await slots(client, clinic, clinic.headers[patient["username"]])
    resp = await client.post("/api/v1/visits", headers=clinic.headers[patient["username"]],
                             json={"slot_id": free[1]["id"], "reason": "Dolore toracico"})
    visit_id = (await resp.json())["id"]
    listed = await client.get("/api/v1/visits", params={"from": datetime.now(UTC).isoformat()},
                              headers=clinic.headers[clinic.doctor["username"]])
    assert [v["id"] for v in (await listed.json())["items"]] == [visit_id]


async def test_cutoff_stops_late_changes(client: TestClient[Any, Any], world: World,
                                         app: Any) -> None:
    clinic = await open_clinic(world)
    patient = await patient_user(world, clinic)
    ph = clinic.headers[patient["username"]]
    free = await slots(client, clinic, ph)
    visit = await (await client.post("/api/v1/visits", headers=ph, json={
        "slot_id": free[0]["id"], "reason": "Controllo"})).json()
    async with app[keys.SESSIONS]() as session:  # the visit is now 2 hours away
        row = await session.get(Visit, visit["id"])
        assert row is not None
        row.scheduled_start = datetime.now(UTC) + timedelta(hours=2)
        session.add(row)
        await session.commit()
    for path, body in (("cancel", None), ("reschedule", {"slot_id": free[2]["id"]})):
        resp = await client.post(f"/api/v1/visits/{visit['id']}/{path}", headers=ph, json=body)
        assert resp.status == 409 and (await resp.json())["error"]["code"] == "past_cutoff"
    # the clinician may still cancel
    resp = await client.post(f"/api/v1/visits/{visit['id']}/cancel",
                             headers=clinic.headers[clinic.doctor["username"]])
    assert resp.status == 200


async def test_bad_bookings_change_nothing(client: TestClient[Any, Any], world: World,
                                           app: Any) -> None:
    clinic = await open_clinic(world)
    patient = await patient_user(world, clinic)
    other = await patient_user(world, clinic)
    ph = clinic.headers[patient["username"]]
    free = await slots(client, clinic, ph)
    not_a_slot = f"{clinic.doctor['id']}-{(clinic.day.replace(hour=3, minute=7)):%Y%m%d%H%M}"
    cases = [
        ({"slot_id": free[0]["id"], "reason": "   "}, 422),
        ({"slot_id": "nonsense", "reason": "x"}, 422),
        ({"slot_id": not_a_slot, "reason": "x"}, 404),
        ({"slot_id": free[0]["id"], "reason": "x" * 501}, 422),
        ({"slot_id": free[0]["id"], "reason": "x", "extra": 1}, 422),
        ({"slot_id": free[0]["id"], "reason": 5}, 422),
        ({"slot_id": free[0]["id"], "reason": "x", "patient_id": other["patient_id"]}, 403),
    ]
    for body, status in cases:
        resp = await client.post("/api/v1/visits", headers=ph, json=body)
        assert resp.status == status, (body, await resp.text())
        assert "error" in await resp.json()
    soon = datetime.now(UTC) + timedelta(hours=1)
    too_soon = f"{clinic.doctor['id']}-{soon:%Y%m%d%H%M}"
    resp = await client.post("/api/v1/visits", headers=ph,
                             json={"slot_id": too_soon, "reason": "x"})
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "past_cutoff"
    async with app[keys.SESSIONS]() as session:
        assert (await session.exec(select(Booking))).all() == []
        assert (await session.exec(select(Visit))).all() == []


async def test_who_may_book_move_and_cancel(client: TestClient[Any, Any], world: World) -> None:
    clinic = await open_clinic(world)
    patient = await patient_user(world, clinic)
    stranger = await patient_user(world, clinic)
    admin = await world.user("admin")
    admin_h = await world.token(admin["username"])
    ph = clinic.headers[patient["username"]]
    free = await slots(client, clinic, ph)
    body = {"slot_id": free[0]["id"], "reason": "Controllo"}
    assert (await client.post("/api/v1/visits", headers=admin_h, json=body)).status == 403
    assert (await client.post("/api/v1/visits", json=body)).status == 401
    other_doctor = await world.user("doctor")
    resp = await client.post("/api/v1/visits", headers=await world.token(other_doctor["username"]),
                             json={**body, "patient_id": patient["patient_id"]})
    assert resp.status == 403  # not on the patient's care team
    # the clinic doctor may book for their patient (a phone call)
    resp = await client.post("/api/v1/visits", headers=clinic.headers[clinic.doctor["username"]],
                             json={**body, "patient_id": patient["patient_id"]})
    assert resp.status == 201
    visit_id = (await resp.json())["id"]
    sh = clinic.headers[stranger["username"]]
    for path, payload in (("cancel", None), ("reschedule", {"slot_id": free[1]["id"]})):
        for headers in (sh, admin_h):
            resp = await client.post(f"/api/v1/visits/{visit_id}/{path}", headers=headers,
                                     json=payload)
            assert resp.status == 403, (path, await resp.text())
    resp = await client.post(f"/api/v1/visits/{visit_id}/reschedule", headers=ph,
                             json={"slot_id": free[1]["id"]})
    assert resp.status == 200


async def test_a_visit_scheduled_by_hand_blocks_its_time(client: TestClient[Any, Any],
                                                         world: World) -> None:
    clinic = await open_clinic(world)
    patient = await patient_user(world, clinic)
    free = await slots(client, clinic, clinic.headers[patient["username"]])
    resp = await client.post("/api/v1/visits", headers=clinic.headers[clinic.doctor["username"]],
                             json={"kind": "televisit", "patient_id": patient["patient_id"],
                                   "participant_ids": [clinic.doctor["id"]],
                                   "scheduled_start": free[1]["start"],
                                   "duration_minutes": 30})
    assert resp.status == 201
    left = [s["id"] for s in await slots(client, clinic, clinic.headers[patient["username"]])]
    assert free[1]["id"] not in left and free[2]["id"] not in left and free[0]["id"] in left


async def test_slot_queries_are_checked(client: TestClient[Any, Any], world: World) -> None:
    clinic = await open_clinic(world)
    h = clinic.headers[clinic.doctor["username"]]
    now = datetime.now(UTC)
    for params in ({"from": "yesterday"}, {"from": now.isoformat(), "to": now.isoformat()},
                   {"from": now.isoformat(), "to": (now + timedelta(days=90)).isoformat()},
                   {"kind": "teleconsult"}, {"clinician": "x\u202e"}):
        resp = await client.get("/api/v1/slots", params=params, headers=h)
        assert resp.status == 400, params


async def test_two_bookings_of_one_slot_one_wins(client: TestClient[Any, Any], world: World,
                                                 app: Any) -> None:
    clinic = await open_clinic(world)
    people = [await patient_user(world, clinic) for _ in range(6)]
    free = await slots(client, clinic, clinic.headers[people[0]["username"]])
    results = await race(client, free[0]["id"],
                         [clinic.headers[p["username"]] for p in people])
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [409] * 5, results
    assert {b["error"]["code"] for s, b in results if s == 409} == {"slot_taken"}
    async with app[keys.SESSIONS]() as session:
        assert len((await session.exec(select(Booking))).all()) == 1
        assert len((await session.exec(select(Visit))).all()) == 1
    assert await second_booking_refused(app)


async def test_hours_are_the_clinicians_own(client: TestClient[Any, Any], world: World) -> None:
    clinic = await open_clinic(world)
    mine = clinic.headers[clinic.doctor["username"]]
    rule_id = (await (await client.get("/api/v1/availability", headers=mine)).json()
               )["items"][0]["id"]
    day = clinic.day.date().isoformat()
    off = await (await client.post("/api/v1/availability/exceptions", headers=mine,
                                   json={"first_day": day, "last_day": day})).json()
    nurse = await world.user("nurse")
    theirs = await world.token(nurse["username"])
    assert (await client.delete(f"/api/v1/availability/{rule_id}", headers=theirs)).status == 404
    assert (await client.delete(f"/api/v1/availability/exceptions/{off['id']}",
                                headers=theirs)).status == 404
    patient = await patient_user(world, clinic)
    ph = clinic.headers[patient["username"]]
    for method, path in (("GET", "/api/v1/availability"),
                         ("DELETE", f"/api/v1/availability/{rule_id}"),
                         ("POST", "/api/v1/availability")):
        assert (await client.request(method, path, headers=ph, json={})).status == 403
    listed = await (await client.get("/api/v1/availability", headers=mine)).json()
    assert [r["id"] for r in listed["items"]] == [rule_id]
    assert [e["id"] for e in listed["exceptions"]] == [off["id"]]
    assert (await client.delete(f"/api/v1/availability/{rule_id}", headers=mine)).status == 204
    assert await slots(client, clinic, mine) == []
