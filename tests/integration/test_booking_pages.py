"""Booking pages, without JavaScript: a clinician's hours, a patient books, moves, cancels."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestClient
from sqlmodel import select

from telemed import keys
from telemed.db.models import Availability, Booking, Visit
from tests.conftest import World
from tests.helpers.booking import ahead, open_clinic, patient_user
from tests.helpers.pages import field_error, log_in, post_form, text_of

Client = TestClient[Any, Any]
SLOT_RE = re.compile(r'name="slot_id" value="([^"]+)"')


async def test_clinician_publishes_hours_and_days_off(client: Client, world: World,
                                                      app: Any) -> None:
    doctor = await world.user("doctor")
    await log_in(client, doctor["username"])
    page = await client.get("/availability")
    assert page.status == 200 and "No weekly hours yet" in await page.text()
    weekday = str(ahead().astimezone(ZoneInfo("Europe/Rome")).weekday())
    resp = await post_form(client, "/availability", {
        "weekday": weekday, "start": "09:00", "end": "10:00", "slot_minutes": "30",
        "kind": "televisit"})
    assert resp.status == 303 and resp.headers["Location"] == "/availability"
    # overlapping hours: the form again, with the reason, and nothing added
    resp = await post_form(client, "/availability", {
        "weekday": weekday, "start": "09:30", "end": "11:00", "slot_minutes": "30",
        "kind": "televisit"})
    assert resp.status == 422
    assert "overlap" in text_of(await resp.text())
    resp = await post_form(client, "/availability", {
        "weekday": "x", "start": "9", "end": "10:00", "slot_minutes": "30", "kind": "x"})
    assert resp.status == 422 and field_error(await resp.text(), "weekday")
    async with app[keys.SESSIONS]() as session:
        rows = (await session.exec(select(Availability))).all()
    assert len(rows) == 1
    day = ahead().date().isoformat()
    resp = await post_form(client, "/availability/days-off", {"first_day": day, "last_day": "",
                                                              "note": "Ferie"})
    assert resp.status == 303
    text = text_of(await (await client.get("/availability")).text())
    assert "09:00–10:00" in text and "Ferie" in text
    resp = await post_form(client, f"/availability/{rows[0].id}/delete", {})
    assert resp.status == 303
    assert "No weekly hours yet" in await (await client.get("/availability")).text()


async def test_patient_books_moves_and_cancels_without_javascript(client: Client, world: World,
                                                                  app: Any) -> None:
    clinic = await open_clinic(world)
    patient = await patient_user(world, clinic)
    await log_in(client, patient["username"])
    agenda = await client.get("/visits")
    assert 'href="/visits/book"' in await agenda.text()
    page = await (await client.get("/visits/book")).text()
    offered = SLOT_RE.findall(page)
    assert len(offered) == 12 and clinic.doctor["username"].title() in page
    # no reason: the form again, nothing booked
    resp = await post_form(client, "/visits/book", {"slot_id": offered[0], "reason": " "})
    assert resp.status == 422 and field_error(await resp.text(), "reason")
    resp = await post_form(client, "/visits/book", {"slot_id": offered[0],
                                                    "reason": "Caviglie gonfie"})
    assert resp.status == 303 and resp.headers["Location"] == "/visits"
    agenda_text = text_of(await (await client.get("/visits")).text())
    assert "Caviglie gonfie" in agenda_text and "Visit booked." in agenda_text
    async with app[keys.SESSIONS]() as session:
        visit = (await session.exec(select(Visit))).one()
    # the same slot again: taken
    resp = await post_form(client, "/visits/book", {"slot_id": offered[0], "reason": "Ancora"})
    assert resp.status == 422 and "no longer free" in field_error(await resp.text(), "slot_id")
    # move it
    page = await (await client.get(f"/visits/{visit.id}/move")).text()
    choices = SLOT_RE.findall(page)
    assert offered[0] not in choices and offered[3] in choices
    resp = await post_form(client, f"/visits/{visit.id}/move", {"slot_id": offered[3]})
    assert resp.status == 303
    # cancel it, after the confirmation page
    confirm = await client.get(f"/visits/{visit.id}/cancel")
    assert "Yes, cancel the visit" in await confirm.text()
    resp = await post_form(client, f"/visits/{visit.id}/cancel", {})
    assert resp.status == 303
    async with app[keys.SESSIONS]() as session:
        row = await session.get(Visit, visit.id)
        assert row is not None and row.status == "cancelled"
        bookings = (await session.exec(select(Booking))).all()
        assert all(b.released_at is not None for b in bookings) and len(bookings) == 2
    # the doctor's agenda no longer lists it; a new booking shows there with its reason
    resp = await post_form(client, "/visits/book", {"slot_id": offered[1],
                                                    "reason": "Fiato corto"})
    assert resp.status == 303
    await client.post("/logout", data={})
    client.session.cookie_jar.clear()
    await log_in(client, clinic.doctor["username"])
    text = text_of(await (await client.get("/visits")).text())
    assert "Fiato corto" in text and "Caviglie gonfie" not in text


async def test_other_patients_visit_cannot_be_moved_or_cancelled(client: Client,
                                                                 world: World) -> None:
    clinic = await open_clinic(world)
    owner = await patient_user(world, clinic)
    resp = await client.post("/api/v1/visits", headers=clinic.headers[owner["username"]],
                             json={"slot_id": (await (await client.get(
                                 "/api/v1/slots", headers=clinic.headers[owner["username"]],
                                 params={"clinician": clinic.doctor["id"]})).json()
                                 )["items"][0]["id"], "reason": "Controllo"})
    visit_id = (await resp.json())["id"]
    stranger = await patient_user(world, clinic)
    await log_in(client, stranger["username"])
    for path in (f"/visits/{visit_id}/move", f"/visits/{visit_id}/cancel"):
        assert (await client.get(path)).status == 403
        assert (await post_form(client, path, {"slot_id": "x"})).status == 403


async def test_late_changes_are_refused_on_the_pages(client: Client, world: World,
                                                     app: Any) -> None:
    clinic = await open_clinic(world)
    patient = await patient_user(world, clinic)
    await log_in(client, patient["username"])
    offered = SLOT_RE.findall(await (await client.get("/visits/book")).text())
    resp = await post_form(client, "/visits/book", {"slot_id": offered[0], "reason": "Tosse"})
    assert resp.status == 303
    async with app[keys.SESSIONS]() as session:  # the visit is now 2 hours away
        visit = (await session.exec(select(Visit))).one()
        visit.scheduled_start = datetime.now(UTC) + timedelta(hours=2)
        session.add(visit)
        await session.commit()
    late = "can no longer be changed online"
    resp = await post_form(client, f"/visits/{visit.id}/move", {"slot_id": offered[3]})
    assert resp.status == 422 and late in text_of(await resp.text())
    assert late in text_of(await (await client.get(f"/visits/{visit.id}/cancel")).text())
    resp = await post_form(client, f"/visits/{visit.id}/cancel", {})
    assert resp.status == 409 and late in text_of(await resp.text())
    async with app[keys.SESSIONS]() as session:
        row = await session.get(Visit, visit.id)
        assert row is not None and row.status == "scheduled"
    # the doctor may still cancel it; then its page says it no longer can be
    await client.post("/logout", data={})
    client.session.cookie_jar.clear()
    await log_in(client, clinic.doctor["username"])
    page = await client.get(f"/visits/{visit.id}/cancel")
    assert late not in text_of(await page.text())
    assert (await post_form(client, f"/visits/{visit.id}/cancel", {})).status == 303
    assert late in text_of(await (await client.get(f"/visits/{visit.id}/cancel")).text())
