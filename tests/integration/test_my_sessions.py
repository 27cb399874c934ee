"""A person's sessions: listed with device, address and last use; each revocable by its owner
only; a revoked session is dead at once."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlmodel import col, select

from telemed import keys
from telemed.db.models import UserSession
from tests.conftest import World
from tests.helpers.pages import csrf_of, log_in, post_form

Client = TestClient[Any, Any]


async def _open_count(client: Client, user_id: str) -> int:
    async with client.server.app[keys.SESSIONS]() as db:
        rows = (await db.exec(select(UserSession).where(col(UserSession.user_id) == user_id)
                              .where(col(UserSession.revoked_at).is_(None)))).all()
    return len(rows)


async def test_sessions_listed_with_device_address_and_last_use(
        client: Client, world: World) -> None:
    doctor = await world.user("doctor")
    bearer = await world.token(doctor["username"])
    assert (await log_in(client, doctor["username"])).status == 303
    resp = await client.get("/api/v1/users/me/sessions", headers=bearer)
    items = (await resp.json())["items"]
    assert resp.status == 200 and len(items) == 2
    assert {i["kind"] for i in items} == {"cookie", "bearer"}
    assert all(i["address"] == "127.0.0.1" and i["last_used_at"] for i in items)
    assert sum(i["current"] for i in items) == 1
    assert all(len(i["id"]) == 24 for i in items)
    async with client.server.app[keys.SESSIONS]() as db:
        real_ids = set((await db.exec(select(UserSession.id))).all())
    assert not real_ids & {i["id"] for i in items}  # the secret id is never shown
    page = await (await client.get("/account/sessions")).text()
    assert "this browser" in page and "App (API token)" in page


async def test_revoking_one_session_ends_it_and_only_it(client: Client, world: World) -> None:
    doctor = await world.user("doctor")
    bearer = await world.token(doctor["username"])
    assert (await log_in(client, doctor["username"])).status == 303
    items = (await (await client.get("/api/v1/users/me/sessions", headers=bearer)).json())["items"]
    cookie = next(i for i in items if i["kind"] == "cookie")
    resp = await client.delete(f"/api/v1/users/me/sessions/{cookie['id']}", headers=bearer)
    assert resp.status == 200
    assert (await client.get("/api/v1/users/me")).status == 401  # the browser is out
    assert (await client.get("/api/v1/users/me", headers=bearer)).status == 200
    again = await client.delete(f"/api/v1/users/me/sessions/{cookie['id']}", headers=bearer)
    assert again.status == 404


async def test_another_persons_session_cannot_be_seen_or_ended(
        client: Client, world: World) -> None:
    doctor, nurse = await world.user("doctor"), await world.user("nurse")
    doctor_h, nurse_h = await world.token(doctor["username"]), await world.token(nurse["username"])
    nurse_items = (await (await client.get("/api/v1/users/me/sessions",
                                           headers=nurse_h)).json())["items"]
    doctor_items = (await (await client.get("/api/v1/users/me/sessions",
                                            headers=doctor_h)).json())["items"]
    assert {i["id"] for i in nurse_items}.isdisjoint({i["id"] for i in doctor_items})
    for handle in (nurse_items[0]["id"], "0" * 24, "../x", "x" * 300):
        resp = await client.delete(f"/api/v1/users/me/sessions/{handle}", headers=doctor_h)
        assert resp.status in (404,), handle
    assert await _open_count(client, nurse["id"]) == 1
    assert (await client.get("/api/v1/users/me", headers=nurse_h)).status == 200
    # the page refuses it the same way
    assert (await log_in(client, doctor["username"])).status == 303
    resp = await post_form(client, f"/account/sessions/{nurse_items[0]['id']}/revoke", {},
                           page="/account/sessions")
    assert resp.status == 404
    assert await _open_count(client, nurse["id"]) == 1


async def test_revoking_from_the_page(client: Client, world: World) -> None:
    patient = await world.patient()
    user = await world.user("patient", patient_id=patient.id)
    bearer = await world.token(user["username"])
    assert (await log_in(client, user["username"])).status == 303
    items = (await (await client.get("/api/v1/users/me/sessions")).json())["items"]
    other = next(i for i in items if not i["current"])
    resp = await post_form(client, f"/account/sessions/{other['id']}/revoke", {},
                           page="/account/sessions")
    assert resp.status == 303 and resp.headers["Location"] == "/account/sessions"
    assert (await client.get("/api/v1/users/me", headers=bearer)).status == 401
    token = await csrf_of(client, "/account/sessions")
    assert token  # this browser is still in
