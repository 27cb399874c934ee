"""Users' optional phone number (E.164): collected where users are created, changed by the
user themselves, shown in GET /users/me; bad input is a 422 that changes nothing."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlmodel import select

from telemed import keys
from telemed.db.models import User
from tests.conftest import PASSWORD, World
from tests.helpers.pages import field_error, log_in, post_form

Client = TestClient[Any, Any]
BAD_PHONES = ("333 123 4567", "+39 333 abc 4567", "+1234567", "+1234567890123456", "+0391234",
              "x" * 100, 393331234567, ["+393331234567"])


async def _user(world: World, username: str) -> User | None:
    async with world.app[keys.SESSIONS]() as session:
        return (await session.exec(select(User).where(User.username == username))).first()


async def test_create_user_normalises_a_phone_and_refuses_a_bad_one(
        client: Client, world: World) -> None:
    admin = await world.token((await world.user("admin"))["username"])
    base = {"username": "neri", "password": PASSWORD, "role": "doctor",
            "display_name": "Dr. Neri"}
    for bad in BAD_PHONES:
        resp = await client.post("/api/v1/users", json={**base, "phone": bad}, headers=admin)
        assert resp.status == 422, bad
        assert "phone" in (await resp.json())["error"]["fields"], bad
    assert await _user(world, "neri") is None
    ok = await client.post("/api/v1/users", headers=admin,
                           json={**base, "phone": " +39 333-123 4567 "})
    assert ok.status == 201
    assert (await ok.json())["phone"] == "+393331234567"
    assert (user := await _user(world, "neri")) is not None and user.phone == "+393331234567"


async def test_only_an_admin_creates_a_user_with_a_phone(client: Client, world: World) -> None:
    doctor = await world.token((await world.user("doctor"))["username"])
    resp = await client.post("/api/v1/users", headers=doctor, json={
        "username": "neri", "password": PASSWORD, "role": "doctor", "display_name": "Dr. Neri",
        "phone": "+393331234567"})
    assert resp.status == 403
    assert await _user(world, "neri") is None


async def test_patch_me_sets_shows_and_clears_my_phone(client: Client, world: World) -> None:
    me = await world.user("patient", patient_id=(await world.patient()).id)
    other = await world.user("nurse")
    headers = await world.token(me["username"])
    assert (await (await client.get("/api/v1/users/me", headers=headers)).json())["phone"] is None
    resp = await client.patch("/api/v1/users/me", headers=headers,
                              json={"phone": "+39 (333) 123-4567"})
    assert resp.status == 200 and (await resp.json())["phone"] == "+393331234567"
    for bad in BAD_PHONES:
        refused = await client.patch("/api/v1/users/me", headers=headers,
                                     json={"phone": bad, "email": "me@home.example"})
        assert refused.status == 422, bad
        assert "phone" in (await refused.json())["error"]["fields"], bad
    after = await (await client.get("/api/v1/users/me", headers=headers)).json()
    assert (after["phone"], after["email"]) == ("+393331234567", None)  # nothing changed
    # another user's number is out of reach: /users/me is always the caller
    other_user = await _user(world, other["username"])
    assert other_user is not None and other_user.phone is None
    unchanged = await client.patch("/api/v1/users/me", headers=headers, json={"email": None})
    assert (await unchanged.json())["phone"] == "+393331234567"  # absent: kept
    cleared = await client.patch("/api/v1/users/me", headers=headers, json={"phone": "  "})
    assert (await cleared.json())["phone"] is None


async def test_new_user_page_and_settings_page_take_a_phone(client: Client,
                                                            world: World) -> None:
    admin = await world.user("admin")
    assert (await log_in(client, admin["username"])).status == 303
    form = {"display_name": "Dott. Neri", "username": "neri", "role": "doctor",
            "password": PASSWORD, "phone": "12345"}
    bad = await post_form(client, "/users/new", form, "/users/new")
    assert bad.status == 422 and field_error(await bad.text(), "phone")
    assert await _user(world, "neri") is None
    good = await post_form(client, "/users/new", {**form, "phone": "+39 333 123 4567"},
                           "/users/new")
    assert good.status == 303
    assert (user := await _user(world, "neri")) is not None and user.phone == "+393331234567"

    nurse = await world.user("nurse")
    client.session.cookie_jar.clear()
    assert (await log_in(client, nurse["username"])).status == 303
    refused = await post_form(client, "/settings/notifications",
                              {"email": "n@asl.example", "phone": "+39 abc"},
                              "/settings/notifications")
    assert refused.status == 422 and field_error(await refused.text(), "phone")
    assert (same := await _user(world, nurse["username"])) is not None
    assert (same.phone, same.email) == (None, None)
    saved = await post_form(client, "/settings/notifications", {"phone": "+44 20 7946 0958"},
                            "/settings/notifications")
    assert saved.status == 303
    page = await (await client.get("/settings/notifications")).text()
    assert 'value="+442079460958"' in page
