"""An administrator never knows a portal account's first password: the account is created
without one, and its owner sets it through a one-time activation link."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlmodel import func, select

from telemed import keys
from telemed.db.models import User
from tests.conftest import PASSWORD, World
from tests.helpers.pages import log_in, post_form

Client = TestClient[Any, Any]
NEW_PASSWORD = "quiet-harbour-lantern-27"


async def _users(client: Client) -> int:
    async with client.server.app[keys.SESSIONS]() as db:
        return int((await db.exec(select(func.count()).select_from(User))).one())


async def _create(client: Client, world: World, **extra: Any) -> Any:
    admin = await world.user("admin")
    headers = await world.token(admin["username"])
    patient = await world.patient()
    return await client.post("/api/v1/users", headers=headers, json={
        "username": "anna.portal", "role": "patient", "display_name": "Anna",
        "patient_id": patient.id, **extra})


async def _login(client: Client, password: str) -> int:
    resp = await client.post("/api/v1/auth/token",
                             json={"username": "anna.portal", "password": password})
    return resp.status


async def test_admin_may_not_choose_a_portal_password(client: Client, world: World) -> None:
    before = await _users(client)
    resp = await _create(client, world, password=PASSWORD)
    assert resp.status == 422 and "password" in (await resp.json())["error"]["fields"]
    assert await _users(client) == before + 1  # the admin, and no portal account
    admin_headers = await world.token((await world.user("admin"))["username"])
    staff = await client.post("/api/v1/users", headers=admin_headers, json={
        "username": "dr.nopass", "role": "doctor", "display_name": "Dr"})
    assert staff.status == 422  # staff accounts still need one


async def test_activation_link_works_once(client: Client, world: World) -> None:
    resp = await _create(client, world)
    assert resp.status == 201
    token = (await resp.json())["activation_url"].split("token=", 1)[1]
    assert await _login(client, "") == 401 and await _login(client, PASSWORD) == 401
    for bad in ({"token": token + "x", "password": NEW_PASSWORD},
                {"token": "", "password": NEW_PASSWORD},
                {"token": token[:-3] + "abc", "password": NEW_PASSWORD}):
        assert (await client.post("/api/v1/auth/activate", json=bad)).status == 400
    weak = await client.post("/api/v1/auth/activate",
                             json={"token": token, "password": "password1234"})
    assert weak.status == 422
    assert (await client.post("/api/v1/auth/activate", json={"token": token})).status in (
        400, 422)
    done = await client.post("/api/v1/auth/activate",
                             json={"token": token, "password": NEW_PASSWORD})
    assert done.status == 200 and (await done.json())["username"] == "anna.portal"
    assert await _login(client, NEW_PASSWORD) == 200
    again = await client.post("/api/v1/auth/activate",
                              json={"token": token, "password": "another-" + NEW_PASSWORD})
    assert again.status == 400
    assert await _login(client, NEW_PASSWORD) == 200  # unchanged


async def test_activation_page(client: Client, world: World) -> None:
    resp = await _create(client, world)
    url = (await resp.json())["activation_url"]
    path = url[url.index("/activate"):]
    token = path.split("token=", 1)[1]
    bad = await client.get("/activate?token=forged")
    assert bad.status == 400 and "activation_invalid" in await bad.text()
    page = await client.get(path)
    assert page.status == 200 and "Choose your password" in await page.text()
    differ = await post_form(client, "/activate", {"token": token, "password": NEW_PASSWORD,
                                                   "confirm_password": "x"}, page=path)
    assert differ.status == 422
    ok = await post_form(client, "/activate", {"token": token, "password": NEW_PASSWORD,
                                               "confirm_password": NEW_PASSWORD}, page=path)
    assert ok.status == 303 and ok.headers["Location"] == "/login"
    assert (await log_in(client, "anna.portal", NEW_PASSWORD)).status == 303
    assert (await client.get(path)).status == 400  # used


async def test_new_user_page_shows_the_link_once(client: Client, world: World) -> None:
    admin = await world.user("admin")
    patient = await world.patient()
    await log_in(client, admin["username"])
    resp = await post_form(client, "/users/new", {
        "username": "mario.portal", "display_name": "Mario", "role": "patient",
        "password": "", "patient_fiscal_code": patient.fiscal_code}, page="/users/new")
    assert resp.status == 303
    page = await (await client.get("/users")).text()
    assert "/activate?token=" in page
    assert "/activate?token=" not in await (await client.get("/users")).text()
