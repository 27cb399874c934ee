"""Second factor for staff (TELEMED_REQUIRE_2FA=staff): enrolment by QR code, codes used once,
recovery codes used once, API tokens, an administrator's reset with a reason."""

from __future__ import annotations

import re
import time
from typing import Any

import pyotp
from aiohttp.test_utils import TestClient
from sqlmodel import col, select

from telemed import keys
from telemed.db.models import IdentityEvent, Notification, User, UserSession
from tests.conftest import PASSWORD, World
from tests.helpers.pages import csrf_of, log_in

Client = TestClient[Any, Any]


async def _post(client: Client, path: str, data: dict[str, str], page: str) -> Any:
    token = await csrf_of(client, page)
    return await client.post(path, data={**data, "csrf_token": token}, allow_redirects=False)


async def _enrol(client: Client, username: str) -> tuple[str, list[str]]:
    resp = await log_in(client, username)
    assert resp.status == 303 and resp.headers["Location"] == "/login/second-factor/enrol"
    page = await (await client.get("/login/second-factor/enrol")).text()
    assert 'src="data:image/svg+xml' in page  # the QR code
    secret = re.search(r"data-totp-secret>([A-Z2-7]+)<", page)
    assert secret
    wrong = await _post(client, "/login/second-factor/enrol", {"code": "000000"},
                        "/login/second-factor/enrol")
    assert wrong.status == 422
    assert (await client.get("/api/v1/users/me")).status == 401
    assert secret[1] in await wrong.text()  # the same secret: the app scanned it already
    done = await _post(client, "/login/second-factor/enrol",
                       {"code": pyotp.TOTP(secret[1]).now()}, "/login/second-factor/enrol")
    assert done.status == 200
    codes = re.findall(r"<li><code>([0-9a-f]{5}-[0-9a-f]{5})</code></li>", await done.text())
    assert len(codes) == 10
    assert (await client.get("/api/v1/users/me")).status == 200
    return secret[1], codes


async def _factor_of_sessions(client: Client, user_id: str) -> list[str | None]:
    async with client.server.app[keys.SESSIONS]() as db:
        rows = (await db.exec(select(UserSession).where(col(UserSession.user_id) == user_id)
                              .where(col(UserSession.revoked_at).is_(None)))).all()
    return [r.second_factor for r in rows]


async def test_staff_enrol_then_need_a_fresh_code_each_time(client_2fa: Client,
                                                            world_2fa: World) -> None:
    doctor = await world_2fa.user("doctor")
    secret, codes = await _enrol(client_2fa, doctor["username"])
    assert await _factor_of_sessions(client_2fa, doctor["id"]) == ["totp"]
    client_2fa.session.cookie_jar.clear()
    resp = await log_in(client_2fa, doctor["username"])
    assert resp.headers["Location"] == "/login/second-factor"
    assert (await client_2fa.get("/api/v1/users/me")).status == 401  # not in yet
    used = pyotp.TOTP(secret).now()  # the code of the enrolment's step: spent already
    for bad in (used, "", "9" * 40):
        resp = await _post(client_2fa, "/login/second-factor", {"code": bad},
                           "/login/second-factor")
        assert resp.status == 401, bad
    assert (await client_2fa.get("/api/v1/users/me")).status == 401
    following = pyotp.TOTP(secret).at(time.time() + 30)
    resp = await _post(client_2fa, "/login/second-factor", {"code": following},
                       "/login/second-factor")
    assert resp.status == 303 and resp.headers["Location"] == "/patients"
    # the same code once more, from another browser: refused
    client_2fa.session.cookie_jar.clear()
    await log_in(client_2fa, doctor["username"])
    resp = await _post(client_2fa, "/login/second-factor", {"code": following},
                       "/login/second-factor")
    assert resp.status == 401
    # a recovery code works once
    resp = await _post(client_2fa, "/login/second-factor", {"code": codes[0]},
                       "/login/second-factor")
    assert resp.status == 303
    client_2fa.session.cookie_jar.clear()
    await log_in(client_2fa, doctor["username"])
    resp = await _post(client_2fa, "/login/second-factor", {"code": codes[0]},
                       "/login/second-factor")
    assert resp.status == 401
    assert (await client_2fa.get("/api/v1/users/me")).status == 401


async def test_second_factor_page_needs_the_first_factor(client_2fa: Client,
                                                         world_2fa: World) -> None:
    await world_2fa.user("doctor")
    resp = await _post(client_2fa, "/login/second-factor", {"code": "123456"}, "/login")
    assert resp.status == 303 and resp.headers["Location"] == "/login"
    resp = await _post(client_2fa, "/login/second-factor/enrol", {"code": "123456"}, "/login")
    assert resp.status == 303 and resp.headers["Location"] == "/login"
    assert await _count_sessions(client_2fa) == 0


async def _count_sessions(client: Client) -> int:
    async with client.server.app[keys.SESSIONS]() as db:
        return len((await db.exec(select(UserSession))).all())


async def test_enrolled_user_cannot_enrol_again_at_login(client_2fa: Client,
                                                         world_2fa: World) -> None:
    doctor = await world_2fa.user("doctor")
    secret, _ = await _enrol(client_2fa, doctor["username"])
    client_2fa.session.cookie_jar.clear()
    await log_in(client_2fa, doctor["username"])
    resp = await client_2fa.get("/login/second-factor/enrol", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/login/second-factor"
    resp = await _post(client_2fa, "/login/second-factor/enrol", {"code": "123456"},
                       "/login/second-factor")
    assert resp.status == 303 and resp.headers["Location"] == "/login/second-factor"
    async with client_2fa.server.app[keys.SESSIONS]() as db:
        user = await db.get(User, doctor["id"])
    assert user is not None and user.totp_secret == secret


async def test_patients_are_not_asked(client_2fa: Client, world_2fa: World) -> None:
    patient = await world_2fa.patient()
    user = await world_2fa.user("patient", patient_id=patient.id)
    resp = await log_in(client_2fa, user["username"])
    assert resp.status == 303 and resp.headers["Location"] == "/my-record"


async def test_api_tokens_of_staff_need_the_code(client_2fa: Client, world_2fa: World) -> None:
    doctor = await world_2fa.user("doctor")
    secret, _ = await _enrol(client_2fa, doctor["username"])
    client_2fa.session.cookie_jar.clear()
    body = {"username": doctor["username"], "password": PASSWORD}
    resp = await client_2fa.post("/api/v1/auth/token", json=body)
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "second_factor_required"
    resp = await client_2fa.post("/api/v1/auth/token", json={**body, "otp": "000000"})
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "wrong_second_factor"
    code = pyotp.TOTP(secret).at(time.time() + 30)
    resp = await client_2fa.post("/api/v1/auth/token", json={**body, "otp": code})
    assert resp.status == 200
    resp = await client_2fa.post("/api/v1/auth/token", json={**body, "otp": code})
    assert resp.status == 401  # the same code again


async def test_admin_resets_a_lost_factor_with_a_reason_and_the_user_is_told(
        client_2fa: Client, world_2fa: World) -> None:
    doctor = await world_2fa.user("doctor")
    await _enrol(client_2fa, doctor["username"])
    client_2fa.session.cookie_jar.clear()
    admin = await world_2fa.user("admin")
    async with client_2fa.server.app[keys.SESSIONS]() as db:
        admin_user = await db.get(User, admin["id"])
        assert admin_user is not None
        from telemed.identity.totp import enrol, new_enrolment
        offer = new_enrolment(admin["username"])
        assert await enrol(db, admin_user, offer.secret, pyotp.TOTP(offer.secret).now())
        admin_secret = offer.secret
    resp = await client_2fa.post("/api/v1/auth/token", json={
        "username": admin["username"], "password": PASSWORD,
        "otp": pyotp.TOTP(admin_secret).at(time.time() + 30)})
    headers = {"Authorization": f"Bearer {(await resp.json())['access_token']}"}
    path = f"/api/v1/users/{doctor['id']}/second-factor/reset"
    for bad in ({}, {"reason": "lost"}, {"reason": "x" * 1001}, {"reason": 5}):
        resp = await client_2fa.post(path, json=bad, headers=headers)
        assert resp.status in (400, 422), bad
    self_reset = await client_2fa.post(f"/api/v1/users/{admin['id']}/second-factor/reset",
                                       json={"reason": "I lost my phone today"}, headers=headers)
    assert self_reset.status == 409
    nurse_headers = await world_2fa.token((await world_2fa.user("patient"))["username"])
    resp = await client_2fa.post(path, json={"reason": "phone lost on the ward"},
                                 headers=nurse_headers)
    assert resp.status == 403
    async with client_2fa.server.app[keys.SESSIONS]() as db:
        assert (await db.get(User, doctor["id"])).totp_secret is not None  # type: ignore[union-attr]
    resp = await client_2fa.post(path, json={"reason": "phone lost on the ward, ticket 42"},
                                 headers=headers)
    assert resp.status == 200
    async with client_2fa.server.app[keys.SESSIONS]() as db:
        user = await db.get(User, doctor["id"])
        events = (await db.exec(select(IdentityEvent)
                                .where(IdentityEvent.kind == "second_factor_reset"))).all()
        told = (await db.exec(select(Notification)
                              .where(Notification.user_id == doctor["id"]))).all()
    assert user is not None and user.totp_secret is None
    assert [(e.user_id, e.actor_id, e.detail) for e in events] == [
        (doctor["id"], admin["id"], "phone lost on the ward, ticket 42")]
    assert [n.kind for n in told] == ["account_security"]
    resp = await log_in(client_2fa, doctor["username"])
    assert resp.headers["Location"] == "/login/second-factor/enrol"


async def test_security_key_endpoints_refuse_without_login_or_challenge(
        client_2fa: Client, world_2fa: World) -> None:
    doctor = await world_2fa.user("doctor")
    token = await csrf_of(client_2fa, "/login")
    headers = {"X-CSRF-Token": token}
    for path in ("/login/second-factor/key/options", "/login/second-factor/key"):
        resp = await client_2fa.post(path, json={}, headers=headers)
        assert resp.status == 401  # no first factor in this browser
    await log_in(client_2fa, doctor["username"])
    headers = {"X-CSRF-Token": await csrf_of(client_2fa, "/login/second-factor/enrol")}
    resp = await client_2fa.post("/login/second-factor/key/options", json={}, headers=headers)
    assert resp.status == 404  # no key registered
    resp = await client_2fa.post("/login/second-factor/key", headers=headers,
                                 json={"credential": {"id": "x", "response": {}}})
    assert resp.status == 400  # no challenge issued
    assert (await client_2fa.get("/api/v1/users/me")).status == 401
    async with client_2fa.server.app[keys.SESSIONS]() as db:
        assert not (await db.exec(select(UserSession))).all()


async def test_enrolling_a_key_at_login_needs_a_pending_login_without_a_factor(
        client_2fa: Client, world_2fa: World) -> None:
    doctor = await world_2fa.user("doctor")
    paths = ("/login/second-factor/enrol/key/options", "/login/second-factor/enrol/key")
    headers = {"X-CSRF-Token": await csrf_of(client_2fa, "/login")}
    for path in paths:  # no first factor in this browser
        assert (await client_2fa.post(path, json={}, headers=headers)).status == 401
    await log_in(client_2fa, doctor["username"])
    headers = {"X-CSRF-Token": await csrf_of(client_2fa, "/login/second-factor/enrol")}
    resp = await client_2fa.post(paths[1], headers=headers,
                                 json={"credential": {"id": "x", "response": {}}})
    assert resp.status == 400  # no challenge issued
    resp = await client_2fa.post(paths[0], json={}, headers=headers)
    assert resp.status == 200 and "challenge" in await resp.json()
    resp = await client_2fa.post(paths[1], headers=headers,
                                 json={"credential": {"id": "x", "response": {}}})
    assert resp.status == 400  # not a registration
    assert (await client_2fa.get("/api/v1/users/me")).status == 401
    async with client_2fa.server.app[keys.SESSIONS]() as db:
        assert not (await db.exec(select(UserSession)
                                  .where(col(UserSession.user_id) == doctor["id"]))).all()
    # a user with a factor proves it; they add no other at login
    nurse = await world_2fa.user("nurse")
    await _enrol(client_2fa, nurse["username"])
    client_2fa.session.cookie_jar.clear()
    resp = await log_in(client_2fa, nurse["username"])
    assert resp.headers["Location"] == "/login/second-factor"
    headers = {"X-CSRF-Token": await csrf_of(client_2fa, "/login/second-factor")}
    assert (await client_2fa.post(paths[0], json={}, headers=headers)).status == 401


async def test_api_code_guessing_is_throttled(client_2fa: Client, world_2fa: World) -> None:
    doctor = await world_2fa.user("doctor")
    secret, _ = await _enrol(client_2fa, doctor["username"])
    client_2fa.session.cookie_jar.clear()
    body = {"username": doctor["username"], "password": PASSWORD}
    statuses = [(await client_2fa.post("/api/v1/auth/token",
                                       json={**body, "otp": f"{n:06d}"})).status
                for n in range(12)]
    assert 429 in statuses and statuses[0] == 401
    good = pyotp.TOTP(secret).at(time.time() + 30)
    resp = await client_2fa.post("/api/v1/auth/token", json={**body, "otp": good})
    assert resp.status == 429  # even the right code waits: nothing is learnt by guessing
