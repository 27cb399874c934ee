"""Sessions, passwords, login backoff, client addresses and file permissions (issue #10,
items 8-11). Live channels are in test_live_channels.py."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import os
import random
import stat
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlmodel import select

from telemed import keys
from telemed.app import create_app
from telemed.commands import CommandError, add_user
from telemed.db import migrate
from telemed.db.models import User
from telemed.services import devices as device_service
from telemed.services.users import ACCOUNT_BACKOFF_CAP
from telemed.settings import Settings
from tests.conftest import PASSWORD, World
from tests.integration.credentials import Browser
from tests.integration.monitoring import add_device, basic, now_s, pack
from tests.integration.visit_helpers import ORIGIN, join_info, make_visit

Client = TestClient[Any, Any]
MakeClient = Callable[[web.Application], Awaitable[Client]]
TOKEN = "/api/v1/auth/token"
PROXIES = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128"))


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test server sits behind a proxy on the loopback address (as behind nginx)."""
    return settings.model_copy(update={"trusted_proxies": PROXIES})


def from_address(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def _user_row(app: web.Application, username: str) -> User:
    async with app[keys.SESSIONS]() as db:
        return (await db.exec(select(User).where(User.username == username))).one()


# --- item 8: logout ends the session; precise "log out everywhere"; password change ------

async def test_logout_kills_a_copied_cookie(client: Client, world: World) -> None:
    doctor = await world.user("doctor")
    browser, thief = Browser(client), Browser(client)
    try:
        await browser.log_in(doctor["username"])
        cookie = browser.cookie()
        me = await thief.http.get(thief.url("/api/v1/users/me"), headers={"Cookie": cookie})
        assert me.status == 200  # the copy works while the session is open
        assert (await browser.post_form("/logout", {})).status == 303
        me = await thief.http.get(thief.url("/api/v1/users/me"), headers={"Cookie": cookie})
        assert me.status == 401
        page = await thief.http.get(thief.url("/patients"), headers={"Cookie": cookie},
                                    allow_redirects=False)
        assert page.status == 302 and page.headers["Location"].startswith("/login")
    finally:
        await browser.close()
        await thief.close()


async def test_logout_everywhere_ends_a_token_of_the_same_second(client: Client,
                                                                 world: World) -> None:
    doctor = await world.user("doctor")
    other = await world.token(doctor["username"])
    await asyncio.sleep(1.0 - time.time() % 1.0 + 0.01)  # early in a second
    fresh = await world.token(doctor["username"])
    resp = await client.post("/api/v1/auth/logout-everywhere", headers=other)
    assert resp.status == 200
    for headers in (fresh, other):
        assert (await client.get("/api/v1/users/me", headers=headers)).status == 401
    again = await world.token(doctor["username"])  # logging in afterwards works
    assert (await client.get("/api/v1/users/me", headers=again)).status == 200


async def test_api_logout_ends_only_its_token(client: Client, world: World) -> None:
    nurse = await world.user("nurse")
    first, second = await world.token(nurse["username"]), await world.token(nurse["username"])
    assert (await client.post("/api/v1/auth/logout", headers=first)).status == 200
    assert (await client.get("/api/v1/users/me", headers=first)).status == 401
    assert (await client.get("/api/v1/users/me", headers=second)).status == 200


async def test_password_change_api(client: Client, world: World) -> None:
    nurse = await world.user("nurse")
    mine, elsewhere = await world.token(nurse["username"]), await world.token(nurse["username"])
    path = "/api/v1/users/me/password"
    wrong = await client.post(path, headers=mine, json={
        "current_password": "not-my-password-1", "new_password": "Un-altra-password-lunga-8"})
    assert wrong.status == 422
    assert "current_password" in (await wrong.json())["error"]["fields"]
    for weak in ("short", "password1234", "qwertyuiop12", nurse["username"] + "-secret-1"):
        resp = await client.post(path, headers=mine, json={"current_password": PASSWORD,
                                                           "new_password": weak})
        assert resp.status == 422, weak
        assert "new_password" in (await resp.json())["error"]["fields"]
    same = await client.post(path, headers=mine, json={"current_password": PASSWORD,
                                                       "new_password": PASSWORD})
    assert same.status == 422
    anonymous = await client.post(path, json={"current_password": PASSWORD,
                                              "new_password": "Un-altra-password-lunga-8"})
    assert anonymous.status == 401
    # Still valid: the wrong attempts above changed nothing.
    assert (await client.get("/api/v1/users/me", headers=elsewhere)).status == 200
    done = await client.post(path, headers=mine, json={"current_password": PASSWORD,
                                                       "new_password": "Un-altra-password-lunga-8"})
    assert done.status == 200, await done.text()
    assert (await client.get("/api/v1/users/me", headers=mine)).status == 200
    assert (await client.get("/api/v1/users/me", headers=elsewhere)).status == 401
    old = await client.post(TOKEN, json={"username": nurse["username"], "password": PASSWORD})
    assert old.status == 401
    new = await client.post(TOKEN, json={"username": nurse["username"],
                                         "password": "Un-altra-password-lunga-8"})
    assert new.status == 200


async def test_guessing_the_current_password_is_throttled(client: Client, world: World) -> None:
    """A stolen session cannot brute-force the current password through the change form."""
    nurse = await world.user("nurse")
    headers = {**await world.token(nurse["username"]), **from_address("203.0.113.40")}
    codes = []
    for i in range(8):
        resp = await client.post("/api/v1/users/me/password", headers=headers, json={
            "current_password": f"guess-number-{i}", "new_password": "Un-altra-password-lunga-8"})
        codes.append(resp.status)
    assert codes[:5] == [422] * 5
    assert set(codes[5:]) == {429}


async def test_password_page(client: Client, world: World) -> None:
    doctor = await world.user("doctor")
    browser = Browser(client)
    other = await world.token(doctor["username"])
    try:
        await browser.log_in(doctor["username"])
        home = await (await browser.http.get(browser.url("/"))).text()
        assert 'href="/account/password"' in home  # linked from the header
        page = await browser.http.get(browser.url("/account/password"))
        assert page.status == 200
        text = await page.text()
        assert 'name="current_password"' in text and 'autocomplete="new-password"' in text
        differ = await browser.post_form("/account/password", {
            "current_password": PASSWORD, "new_password": "Un-altra-password-lunga-8",
            "confirm_password": "Un-altra-password-lunga-9"}, page="/account/password")
        assert differ.status == 422
        weak = await browser.post_form("/account/password", {
            "current_password": PASSWORD, "new_password": "password1234",
            "confirm_password": "password1234"}, page="/account/password")
        assert weak.status == 422
        assert "too common" in await weak.text()
        assert "password1234" not in await weak.text()  # never sent back
        done = await browser.post_form("/account/password", {
            "current_password": PASSWORD, "new_password": "Un-altra-password-lunga-8",
            "confirm_password": "Un-altra-password-lunga-8"}, page="/account/password")
        assert done.status == 303
        assert (await browser.http.get(browser.url("/api/v1/users/me"))).status == 200
        assert (await client.get("/api/v1/users/me", headers=other)).status == 401
    finally:
        await browser.close()


async def test_password_page_needs_a_login(client: Client) -> None:
    resp = await client.get("/account/password", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"].startswith("/login")


async def test_the_policy_applies_to_every_way_of_creating_users(
    client: Client, world: World, settings: Settings
) -> None:
    admin = await world.token((await world.user("admin"))["username"])
    resp = await client.post("/api/v1/users", headers=admin, json={
        "username": "dr.bianchi", "password": "password1234", "role": "doctor",
        "display_name": "Dott. Bianchi"})
    assert resp.status == 422
    assert "password" in (await resp.json())["error"]["fields"]
    with pytest.raises(CommandError, match=r"[Pp]assword"):
        await add_user(settings, "dr.bianchi", "qwertyuiop12", "doctor", "Dott. Bianchi", None)
    # The demo seed's password is within the policy.
    assert await add_user(settings, "dr.demo", "telemed-demo-2026", "doctor", "Dr Demo", None)


async def test_deactivation(client: Client, world: World) -> None:
    admin_user = await world.user("admin")
    admin = await world.token(admin_user["username"])
    nurse = await world.user("nurse")
    nurse_headers = await world.token(nurse["username"])
    path = f"/api/v1/users/{nurse['id']}"
    assert (await client.patch(path, headers=nurse_headers, json={"active": False})).status == 403
    self_off = await client.patch(f"/api/v1/users/{admin_user['id']}", headers=admin,
                                  json={"active": False})
    assert self_off.status == 409
    off = await client.patch(path, headers=admin, json={"active": False})
    assert off.status == 200 and (await off.json())["active"] is False
    assert (await client.get("/api/v1/users/me", headers=nurse_headers)).status == 401
    login = await client.post(TOKEN, json={"username": nurse["username"], "password": PASSWORD})
    assert login.status == 401
    on = await client.patch(path, headers=admin, json={"active": True})
    assert on.status == 200
    assert (await client.get("/api/v1/users/me", headers=nurse_headers)).status == 401  # stays
    login = await client.post(TOKEN, json={"username": nurse["username"], "password": PASSWORD})
    assert login.status == 200
    missing = await client.patch("/api/v1/users/nobody", headers=admin, json={"active": False})
    assert missing.status == 404


# --- item 9: atomic counting, backoff instead of a lock anyone can trigger ---------------

async def test_forty_parallel_guesses_get_five_checks(client: Client, world: World) -> None:
    doctor = await world.user("doctor")
    attacker = from_address("203.0.113.66")
    guesses = [f"guess-{i:02d}-wrong" for i in range(39)] + [PASSWORD]
    random.Random(7).shuffle(guesses)
    responses = await asyncio.gather(*(
        client.post(TOKEN, headers=attacker, json={"username": doctor["username"],
                                                   "password": guess})
        for guess in guesses))
    codes = [r.status for r in responses]
    evaluated = [code for code in codes if code in (200, 401)]
    assert len(evaluated) <= 5, codes
    assert codes.count(429) >= 35
    right = codes[guesses.index(PASSWORD)]
    assert right in (200, 429)  # the right one succeeds only within the allowed five
    if right == 429:
        row = await _user_row(client.app, doctor["username"])
        assert row.failed_logins == codes.count(401)  # every check counted, none lost


async def test_failures_are_counted_atomically(client: Client, world: World) -> None:
    doctor = await world.user("doctor")
    # Different addresses, so that only the account's own counter is shared.
    responses = await asyncio.gather(*(
        client.post(TOKEN, headers=from_address(f"198.51.100.{i}"),
                    json={"username": doctor["username"], "password": f"wrong-guess-{i}"})
        for i in range(1, 13)))
    codes = [r.status for r in responses]
    row = await _user_row(client.app, doctor["username"])
    assert row.failed_logins == codes.count(401)
    assert codes.count(401) >= 5


async def test_a_flood_from_one_address_does_not_keep_the_owner_out(client: Client,
                                                                    world: World) -> None:
    doctor = await world.user("doctor")
    attacker, owner = from_address("203.0.113.7"), from_address("192.0.2.44")
    for _ in range(2):
        await asyncio.gather(*(
            client.post(TOKEN, headers=attacker, json={"username": doctor["username"],
                                                       "password": f"flood-{i}-wrong"})
            for i in range(40)))
    still = await client.post(TOKEN, headers=attacker, json={"username": doctor["username"],
                                                             "password": "flood-x-wrong"})
    assert still.status == 429  # the attacker is held back...
    started = time.monotonic()
    resp = await client.post(TOKEN, headers=owner, json={"username": doctor["username"],
                                                         "password": PASSWORD})
    if resp.status == 429:  # ...the owner at most by the account's short backoff
        wait = int(resp.headers["Retry-After"])
        assert wait <= ACCOUNT_BACKOFF_CAP + 1
        await asyncio.sleep(wait)
        resp = await client.post(TOKEN, headers=owner, json={"username": doctor["username"],
                                                             "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    assert time.monotonic() - started <= ACCOUNT_BACKOFF_CAP + 2
    # The owner's browser login works too (the form goes through the same checks).
    browser = Browser(client)
    try:
        token = await browser.csrf()
        form = await browser.http.post(browser.url("/login"), allow_redirects=False, headers={
            "X-Forwarded-For": "192.0.2.45"}, data={"username": doctor["username"],
                                                   "password": PASSWORD, "csrf_token": token})
        assert form.status == 303
    finally:
        await browser.close()


async def test_per_address_limit_covers_many_usernames(client: Client, world: World) -> None:
    codes = []
    for i in range(12):
        resp = await client.post(TOKEN, headers=from_address("203.0.113.99"),
                                 json={"username": f"nobody{i}", "password": "whatever-123"})
        codes.append(resp.status)
    assert codes[:10] == [401] * 10 and codes[10:] == [429, 429]
    other = await client.post(TOKEN, headers=from_address("203.0.113.100"),
                              json={"username": "nobody", "password": "whatever-123"})
    assert other.status == 401


# --- item 10: device credentials, forwarded addresses, WebSocket joins --------------------

def _basic_header(device_id: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{device_id}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/senml+json"}


async def test_a_device_credential_flood_costs_no_hashing(
    client: Client, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[str] = []
    real_verify = device_service.verify_password

    def counting(stored: str, password: str) -> bool:
        checks.append(password)
        return real_verify(stored, password)

    monkeypatch.setattr(device_service, "verify_password", counting)
    # The flood is one burst: the limiter's clock stands still while it lasts (on a slow
    # machine its 100 requests took longer than a token's refill, and an 11th got through).
    limiter = client.app[keys.RATE_LIMITER]
    take, frozen = limiter.take, time.monotonic()
    monkeypatch.setattr(limiter, "take", lambda key, now=None: take(key, frozen))
    body = pack(("spo2", 97, "%", now_s()))
    flood = await asyncio.gather(*(
        client.post(f"/api/v1/devices/dev{i:04d}/readings", data=body,
                    headers={**_basic_header(f"dev{i:04d}", "random-secret"),
                             **from_address("203.0.113.12")})
        for i in range(100)))
    codes = [r.status for r in flood]
    assert len(checks) <= 10, len(checks)
    assert codes.count(401) == len(checks) and codes.count(429) == 100 - len(checks)
    # A real device at another address is not slowed down.
    patient = await world.patient()
    device_id = await add_device(client.app, patient.id)
    ok = await client.post(f"/api/v1/devices/{device_id}/readings", data=body,
                           headers={**basic(device_id), **from_address("192.0.2.80")})
    assert ok.status == 200, await ok.text()
    # The same wrong credential again, from anywhere: refused without hashing.
    before = len(checks)
    wrong = _basic_header(device_id, "not-the-secret")
    first = await client.post(f"/api/v1/devices/{device_id}/readings", data=body,
                              headers={**wrong, **from_address("192.0.2.81")})
    again = await client.post(f"/api/v1/devices/{device_id}/readings", data=body,
                              headers={**wrong, **from_address("192.0.2.82")})
    assert first.status == again.status == 401
    assert len(checks) == before + 1
    # Right credentials sent once to another device's address do not spoil them.
    astray = await client.post("/api/v1/devices/someone-else/readings", data=body,
                               headers={**basic(device_id), **from_address("192.0.2.83")})
    assert astray.status == 401
    ok = await client.post(f"/api/v1/devices/{device_id}/readings", data=body,
                           headers={**basic(device_id), **from_address("192.0.2.83")})
    assert ok.status == 200


async def _limited_client(aiohttp_client: MakeClient, settings: Settings,
                          **changes: Any) -> Client:
    return await aiohttp_client(create_app(settings.model_copy(
        update={"api_rate_per_minute": 10, **changes})))


async def test_rate_limits_key_on_the_forwarded_client(aiohttp_client: MakeClient,
                                                       settings: Settings) -> None:
    client = await _limited_client(aiohttp_client, settings)
    codes = [(await client.get("/login", headers=from_address("203.0.113.1"))).status
             for _ in range(11)]
    assert codes[-1] == 429 and codes[:10] == [200] * 10
    other = await client.get("/login", headers=from_address("203.0.113.2"))
    assert other.status == 200  # another client behind the same proxy
    # The client's own X-Forwarded-For entries (left of the proxy's) change nothing.
    spoofed = await client.get("/login", headers=from_address("9.9.9.9, 203.0.113.1"))
    assert spoofed.status == 429


async def test_without_trusted_proxies_the_header_is_ignored(aiohttp_client: MakeClient,
                                                             settings: Settings) -> None:
    client = await _limited_client(aiohttp_client, settings, trusted_proxies=())
    for i in range(10):
        await client.get("/login", headers=from_address(f"203.0.113.{i}"))
    resp = await client.get("/login", headers=from_address("203.0.113.200"))
    assert resp.status == 429


async def test_socket_joins_spend_their_user_budget(aiohttp_client: MakeClient,
                                                    settings: Settings) -> None:
    client = await _limited_client(aiohttp_client, settings, trusted_proxies=())
    world = World(client.app, client)
    setup = await make_visit(world)
    token = (await join_info(client, setup, setup.doctor))["token"]
    while (await client.get("/login")).status != 429:
        pass  # the proxy's (anonymous) budget is spent
    url = f"/ws/visits/{setup.visit_id}?token={token}"
    ws = await client.ws_connect(url, headers={"Origin": ORIGIN})
    await ws.close()
    bad = f"/ws/visits/{setup.visit_id}?token=forged"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect(bad, headers={"Origin": ORIGIN})
    assert refused.value.status == 429  # without a valid token: the address's budget


# --- item 11: the data directory and the SQLite files are private -------------------------

def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_data_dir_and_database_files_are_owner_only(
    aiohttp_client: MakeClient, settings: Settings, tmp_path: Path
) -> None:
    old_umask = os.umask(0o022)
    try:
        data_dir = tmp_path / "data"
        data_dir.mkdir(mode=0o755)
        db = data_dir / "telemed.db"
        url = f"sqlite+aiosqlite:///{db}"
        await asyncio.to_thread(migrate.upgrade, url)
        assert _mode(db) == 0o600  # created private by the migration
        db.chmod(0o644)  # as left by an older version
        data_dir.chmod(0o755)
        local = settings.model_copy(update={"data_dir": data_dir, "database_url": ""})
        assert local.effective_database_url == url
        client = await aiohttp_client(create_app(local))
        world = World(client.app, client)
        await world.user("doctor")  # a write: SQLite opens its WAL and shared memory
        assert _mode(data_dir) == 0o700
        for name in ("telemed.db", "telemed.db-wal", "telemed.db-shm"):
            assert (data_dir / name).exists(), name
            assert _mode(data_dir / name) == 0o600, name
    finally:
        os.umask(old_umask)


async def test_admin_page_deactivates_and_reactivates(client: Client, world: World) -> None:
    admin = await world.user("admin")
    nurse = await world.user("nurse")
    nurse_headers = await world.token(nurse["username"])
    browser = Browser(client)
    try:
        await browser.log_in(admin["username"])
        page = await (await browser.http.get(browser.url("/users"))).text()
        assert f'action="/users/{nurse["id"]}/active"' in page
        assert f'action="/users/{admin["id"]}/active"' not in page  # not oneself
        off = await browser.post_form(f"/users/{nurse['id']}/active", {"active": "false"},
                                      page="/users")
        assert off.status == 303
        assert (await client.get("/api/v1/users/me", headers=nurse_headers)).status == 401
        listing = await (await browser.http.get(browser.url("/users"))).text()
        assert "can no longer log in" in listing and "Reactivate" in listing
        on = await browser.post_form(f"/users/{nurse['id']}/active", {"active": "true"},
                                     page="/users")
        assert on.status == 303
        login = await client.post(TOKEN, json={"username": nurse["username"],
                                               "password": PASSWORD})
        assert login.status == 200
    finally:
        await browser.close()
    doctor = await world.user("doctor")
    other = Browser(client)
    try:
        await other.log_in(doctor["username"])
        refused = await other.post_form(f"/users/{nurse['id']}/active", {"active": "false"})
        assert refused.status == 403
    finally:
        await other.close()


async def test_tokens_without_a_session_are_refused(client: Client, world: World) -> None:
    """Tokens signed before sessions were rows (or forged without one) open nothing."""
    from telemed.security import TokenSigner

    doctor = await world.user("doctor")
    bare = TokenSigner(client.app[keys.SETTINGS].secret_key).sign(
        "access", {"sub": doctor["id"]}, 600)
    resp = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {bare}"})
    assert resp.status == 401
    # Nor can a token of one user borrow another user's session id.
    nurse = await world.user("nurse")
    await world.token(nurse["username"])
    async with client.app[keys.SESSIONS]() as db:
        from telemed.db.models import UserSession

        row = (await db.exec(select(UserSession).where(UserSession.user_id == nurse["id"]))).one()
    borrowed = TokenSigner(client.app[keys.SETTINGS].secret_key).sign(
        "access", {"sub": doctor["id"], "sid": row.id}, 600)
    resp = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {borrowed}"})
    assert resp.status == 401
