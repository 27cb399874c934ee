"""Delegates who act (CONTRACT §7): a parent or a caregiver with scope "act" books, moves,
cancels and joins the patient's televisit ("…, mother of …" in the room); "read" does not;
a parent's delegation for a minor ends at 18 (injected clock)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.db.models import Patient, Visit
from telemed.domain.fiscal_code import build_fiscal_code
from telemed.principal import Principal
from telemed.services import delegates
from telemed.signalling import messages as m
from tests.conftest import World
from tests.helpers.booking import Clinic, open_clinic, patient_user, slots
from tests.integration.visit_helpers import VisitSetup, connect

Client = TestClient[Any, Any]
_BIRTHS = itertools.count()


async def _person(world: World, given: str, birth: date, sex: str) -> Patient:
    async with world.app[keys.SESSIONS]() as session:
        person = Patient(fiscal_code=build_fiscal_code(given, "Rinaldi", birth, sex, "Roma"),
                         given_name=given, family_name="Rinaldi", birth_date=birth, sex=sex)
        session.add(person)
        await session.commit()
        return person


async def _delegate(client: Client, world: World, clinic: Clinic, child: Patient, *,
                    scope: str, relationship: str = "parent",
                    sex: str = "F") -> dict[str, str]:
    """A portal user with a record of their own, delegated by an administrator."""
    own = await _person(world, "Elena" if sex == "F" else "Marco",
                        date(1984, 2, 1) + timedelta(days=next(_BIRTHS)), sex)
    user = await world.user("patient", patient_id=own.id)
    admin = await world.user("admin")
    resp = await client.post(f"/api/v1/patients/{child.id}/delegates",
                             headers=await world.token(admin["username"]),
                             json={"delegate_username": user["username"],
                                   "relationship": relationship, "scope": scope,
                                   "request_note": "Modulo firmato prot. 7/2026"})
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert body["scope"] == scope
    clinic.headers[user["username"]] = await world.token(user["username"])
    return user


async def _minor(world: World, clinic: Clinic) -> Patient:
    today = datetime.now(UTC).date()
    child = await _person(world, "Sofia", today.replace(year=today.year - 11) - timedelta(1),
                          "F")
    async with world.app[keys.SESSIONS]() as session:
        from telemed.db.models import CareTeamMember, Consent

        session.add(CareTeamMember(patient_id=child.id, user_id=clinic.doctor["id"]))
        session.add(Consent(patient_id=child.id, granted=True, recorded_by=clinic.doctor["id"]))
        await session.commit()
    return child


async def test_a_parent_who_acts_books_moves_cancels(client: Client, world: World) -> None:
    clinic = await open_clinic(world)
    child = await _minor(world, clinic)
    mother = await _delegate(client, world, clinic, child, scope="act")
    h = clinic.headers[mother["username"]]
    free = await slots(client, clinic, h)
    resp = await client.post("/api/v1/visits", headers=h, json={
        "slot_id": free[0]["id"], "reason": "Tosse notturna", "patient_id": child.id})
    assert resp.status == 201, await resp.text()
    visit = await resp.json()
    assert visit["patient_id"] == child.id
    resp = await client.post(f"/api/v1/visits/{visit['id']}/reschedule", headers=h,
                             json={"slot_id": free[2]["id"]})
    assert resp.status == 200
    assert (await client.post(f"/api/v1/visits/{visit['id']}/cancel", headers=h)).status == 200


async def test_read_only_delegates_and_strangers_may_not_act(client: Client,
                                                             world: World) -> None:
    clinic = await open_clinic(world)
    child = await _minor(world, clinic)
    reader = await _delegate(client, world, clinic, child, scope="read")
    acting = await _delegate(client, world, clinic, child, scope="act")
    stranger = await patient_user(world, clinic)
    free = await slots(client, clinic, clinic.headers[acting["username"]])
    body = {"slot_id": free[0]["id"], "reason": "Controllo", "patient_id": child.id}
    for person in (reader, stranger):
        resp = await client.post("/api/v1/visits", headers=clinic.headers[person["username"]],
                                 json=body)
        assert resp.status == 403, await resp.text()
    visit = await (await client.post("/api/v1/visits", headers=clinic.headers[acting["username"]],
                                     json=body)).json()
    for person in (reader, stranger):
        h = clinic.headers[person["username"]]
        assert (await client.post(f"/api/v1/visits/{visit['id']}/cancel",
                                  headers=h)).status == 403
        assert (await client.get(f"/api/v1/visits/{visit['id']}/join",
                                 headers=h)).status in (403, 409)
    # the reader still reads the visit; the stranger does not
    assert (await client.get(f"/api/v1/visits/{visit['id']}",
                             headers=clinic.headers[reader["username"]])).status == 200
    assert (await client.get(f"/api/v1/visits/{visit['id']}",
                             headers=clinic.headers[stranger["username"]])).status == 403


async def test_the_mother_joins_and_the_room_says_who_she_is(client: Client,
                                                             world: World) -> None:
    clinic = await open_clinic(world)
    child = await _minor(world, clinic)
    mother = await _delegate(client, world, clinic, child, scope="act")
    reader = await _delegate(client, world, clinic, child, scope="read", sex="M")
    doctor_h = clinic.headers[clinic.doctor["username"]]
    resp = await client.post("/api/v1/visits", headers=doctor_h, json={
        "kind": "televisit", "patient_id": child.id, "participant_ids": [clinic.doctor["id"]],
        "scheduled_start": (datetime.now(UTC) + timedelta(minutes=5)).isoformat(),
        "duration_minutes": 20})
    visit_id = (await resp.json())["id"]
    setup = VisitSetup(visit_id, child.id, [clinic.doctor], mother, clinic.headers)
    join = await client.get(f"/api/v1/visits/{visit_id}/join",
                            headers=clinic.headers[mother["username"]])
    assert join.status == 200 and (await join.json())["role"] == "patient"
    refused = await client.get(f"/api/v1/visits/{visit_id}/join",
                               headers=clinic.headers[reader["username"]])
    assert refused.status == 403
    doctor = await connect(client, setup, clinic.doctor)
    await doctor.send(m.Join())
    await doctor.expect(m.Welcome)
    parent = await connect(client, setup, mother)
    await parent.send(m.Join())
    welcome = await parent.expect(m.Welcome)
    knock = await doctor.expect(m.Knock)
    assert knock.peer.peer_id == welcome.peer_id and knock.peer.role == "patient"
    assert knock.peer.name == f"{mother['username'].title()}, mother of Sofia Rinaldi"
    await doctor.send(m.Admit(peer_id=welcome.peer_id))
    await parent.expect(m.Admitted)
    await parent.close()
    await doctor.close()
    # the check-in page opens for her
    from tests.helpers.pages import log_in

    await log_in(client, mother["username"])
    page = await client.get(f"/visits/{visit_id}/check-in", allow_redirects=False)
    assert page.status == 200


async def test_a_parents_delegation_ends_at_18(client: Client, world: World) -> None:
    """Injected clock: granted when the child was 16, in force the day before the 18th
    birthday, over on it; a delegation the adult grants afresh does not end."""
    clinic = await open_clinic(world)
    birth = date(2008, 6, 15)
    child = await _person(world, "Luca", birth, "M")
    parent = await world.user("patient")
    async with world.app[keys.SESSIONS]() as session:
        child_user = await world.user("patient", patient_id=child.id)
        who = Principal(child_user["id"], child_user["username"], "patient", "Luca", child.id,
                        "session")
        held = await delegates.grant(session, who, child.id, delegate_username=parent["username"],
                                     relationship="parent", scope="act",
                                     today=date(2024, 6, 15))
        assert held.valid_until == date(2026, 6, 15)
        assert await delegates.delegation_of(session, child.id, parent["id"],
                                             today=date(2026, 6, 14)) is not None
        assert await delegates.delegation_of(session, child.id, parent["id"],
                                             today=date(2026, 6, 15)) is None
    # today (December 2026) he is 18: the parent no longer reads or acts
    h = await world.token(parent["username"])
    assert (await client.get(f"/api/v1/patients/{child.id}", headers=h)).status == 403
    async with world.app[keys.SESSIONS]() as session:
        renewed = await delegates.grant(session, who, child.id,
                                        delegate_username=parent["username"],
                                        relationship="parent", scope="read")
        assert renewed.valid_until is None
    assert (await client.get(f"/api/v1/patients/{child.id}", headers=h)).status == 200
    assert clinic  # the clinic exists for symmetry with the other tests


async def test_visits_page_lists_the_childs_visits_for_the_parent(client: Client,
                                                                  world: World) -> None:
    from tests.helpers.pages import log_in, text_of

    clinic = await open_clinic(world)
    child = await _minor(world, clinic)
    mother = await _delegate(client, world, clinic, child, scope="act")
    h = clinic.headers[mother["username"]]
    free = await slots(client, clinic, h)
    await client.post("/api/v1/visits", headers=h, json={
        "slot_id": free[0]["id"], "reason": "Tosse notturna", "patient_id": child.id})
    await log_in(client, mother["username"])
    text = text_of(await (await client.get("/visits")).text())
    assert "for Sofia Rinaldi" in text and "Tosse notturna" in text
    page = await (await client.get("/visits/book")).text()
    assert f'value="{child.id}"' in page  # she books for her daughter or herself
    async with world.app[keys.SESSIONS]() as session:
        from sqlmodel import select

        assert len((await session.exec(select(Visit))).all()) == 1
