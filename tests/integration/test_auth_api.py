"""Bearer tokens, login throttling and lockout, users API."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import PASSWORD, World


async def test_token_and_me(client: TestClient[Any, Any], world: World) -> None:
    doctor = await world.user("doctor")
    resp = await client.post("/api/v1/auth/token",
                             json={"username": doctor["username"], "password": PASSWORD})
    assert resp.status == 200
    data = await resp.json()
    assert data["token_type"] == "bearer"
    assert data["expires_in"] > 0
    me = await client.get("/api/v1/users/me",
                          headers={"Authorization": f"Bearer {data['access_token']}"})
    assert me.status == 200
    assert (await me.json())["username"] == doctor["username"]
    assert "password_hash" not in await me.json()


async def test_wrong_password_and_unknown_user_look_the_same(
    client: TestClient[Any, Any], world: World
) -> None:
    nurse = await world.user("nurse")
    wrong = await client.post("/api/v1/auth/token",
                              json={"username": nurse["username"], "password": "nope-nope-nope"})
    unknown = await client.post("/api/v1/auth/token",
                                json={"username": "ghost", "password": "nope-nope-nope"})
    assert wrong.status == unknown.status == 401
    assert (await wrong.json())["error"] == (await unknown.json())["error"]


async def test_repeated_failures_back_off_instead_of_locking(
    client: TestClient[Any, Any], world: World
) -> None:
    import asyncio

    nurse = await world.user("nurse")
    for _ in range(5):
        resp = await client.post("/api/v1/auth/token",
                                 json={"username": nurse["username"], "password": "bad-password-1"})
        assert resp.status == 401
    resp = await client.post("/api/v1/auth/token",
                             json={"username": nurse["username"], "password": "bad-password-1"})
    assert resp.status == 429
    assert (await resp.json())["error"]["code"] == "too_many_attempts"
    wait = int(resp.headers["Retry-After"])
    assert 1 <= wait <= 2
    # Once the short backoff has passed, the right password works: no lock.
    await asyncio.sleep(wait)
    resp = await client.post("/api/v1/auth/token",
                             json={"username": nurse["username"], "password": PASSWORD})
    assert resp.status == 200


async def test_throttle_per_client(client: TestClient[Any, Any], world: World) -> None:
    codes = []
    for i in range(12):
        resp = await client.post("/api/v1/auth/token",
                                 json={"username": f"nobody{i}", "password": f"whatever-{i}"})
        codes.append(resp.status)
    # Ten failures per address whatever the usernames (five per username: see below).
    assert codes[:10] == [401] * 10
    assert codes[10:] == [429, 429]


async def test_bad_bodies(client: TestClient[Any, Any]) -> None:
    resp = await client.post("/api/v1/auth/token", data="{not json",
                             headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "invalid_json"
    resp = await client.post("/api/v1/auth/token", json=["a", "b"])
    assert resp.status == 400
    resp = await client.post("/api/v1/auth/token", json={"username": "x"})
    assert resp.status == 422
    assert "password" in (await resp.json())["error"]["fields"]
    resp = await client.post("/api/v1/auth/token", data="username=x",
                             headers={"Content-Type": "text/plain"})
    assert resp.status in (403, 415)


async def test_huge_body_is_413(client: TestClient[Any, Any]) -> None:
    import io

    resp = await client.post("/api/v1/auth/token",
                             data=io.BytesIO(b"{" + b" " * (2 * 1024 * 1024) + b"}"),
                             headers={"Content-Type": "application/json"})
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "payload_too_large"


async def test_invalid_and_tampered_tokens(client: TestClient[Any, Any], world: World) -> None:
    doctor = await world.user("doctor")
    headers = await world.token(doctor["username"])
    token = headers["Authorization"].split()[1]
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for bad in ("garbage", tampered, ""):
        resp = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {bad}"})
        assert resp.status == 401


async def test_logout_everywhere_revokes_tokens(client: TestClient[Any, Any], world: World) -> None:
    doctor = await world.user("doctor")
    headers = await world.token(doctor["username"])
    resp = await client.post("/api/v1/auth/logout-everywhere", headers=headers)
    assert resp.status == 200
    resp = await client.get("/api/v1/users/me", headers=headers)
    assert resp.status == 401


async def test_admin_creates_users(client: TestClient[Any, Any], world: World) -> None:
    admin = await world.user("admin")
    headers = await world.token(admin["username"])
    resp = await client.post("/api/v1/users", headers=headers, json={
        "username": "dr.verdi", "password": "Una-password-lunga-1", "role": "doctor",
        "display_name": "Dott. Verdi"})
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    assert created["role"] == "doctor"
    again = await client.post("/api/v1/users", headers=headers, json={
        "username": "dr.verdi", "password": "Una-password-lunga-1", "role": "doctor",
        "display_name": "Dott. Verdi"})
    assert again.status == 409
    bad = await client.post("/api/v1/users", headers=headers, json={
        "username": "X", "password": "short", "role": "wizard", "display_name": ""})
    assert bad.status == 422
    fields = (await bad.json())["error"]["fields"]
    assert {"username", "password", "role", "display_name"} <= set(fields)
    # A patient-portal account without a record of its own (a caregiver) is allowed...
    caregiver = await client.post("/api/v1/users", headers=headers, json={
        "username": "figlia.rossi", "role": "patient", "display_name": "Figlia"})
    assert caregiver.status == 201
    # ...but only patient users are linked to a record.
    linked_doctor = await client.post("/api/v1/users", headers=headers, json={
        "username": "dr.linked", "password": "Una-password-lunga-1", "role": "doctor",
        "display_name": "D", "patient_id": "whatever"})
    assert linked_doctor.status == 422
    assert "patient_id" in (await linked_doctor.json())["error"]["fields"]
    listing = await client.get("/api/v1/users?limit=2", headers=headers)
    page = await listing.json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = await client.get(f"/api/v1/users?limit=2&cursor={page['next_cursor']}",
                            headers=headers)
    names = [u["username"] for u in page["items"] + (await rest.json())["items"]]
    assert names == sorted(names) and len(set(names)) == len(names)
    bad_cursor = await client.get("/api/v1/users?cursor=%%%", headers=headers)
    assert bad_cursor.status == 400
    bad_limit = await client.get("/api/v1/users?limit=0", headers=headers)
    assert bad_limit.status == 400
