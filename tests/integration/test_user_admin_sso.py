"""A mistyped staff fiscal code corrected by an administrator, against the real OpenID
provider: the person it wrongly named is shut out (their session too), the right person
signs in."""

from __future__ import annotations

import time
from typing import Any

import pyotp
from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.identity.totp import enrol, new_enrolment
from telemed.services.users import create_user
from tests.conftest import PASSWORD
from tests.helpers.pages import csrf_of
from tests.helpers.sso import STRANGER_CODE, TWOFOLD_CODE, portal_patient, sso_sign_in

Client = TestClient[Any, Any]


async def _nurse_and_admin(client: Client, code: str) -> tuple[str, dict[str, str]]:
    """A nurse whose fiscal code was typed as `code`, and an administrator's headers."""
    async with client.server.app[keys.SESSIONS]() as db:
        admin = await create_user(db, username="admin.cf", password=PASSWORD, role="admin",
                                  display_name="Admin")
        nurse = await create_user(db, username="nurse.neri", password=PASSWORD, role="nurse",
                                  display_name="Paolo Neri", fiscal_code=code)
        await db.commit()
        secret = new_enrolment(admin.username).secret  # for a platform that requires it
        assert await enrol(db, admin, secret, pyotp.TOTP(secret).now())
    token = await client.post("/api/v1/auth/token", json={
        "username": "admin.cf", "password": PASSWORD,
        "otp": pyotp.TOTP(secret).at(time.time() + 30)})
    return nurse.id, {"Authorization": f"Bearer {(await token.json())['access_token']}"}


async def _correct(client: Client, admin: dict[str, str], user_id: str, code: str) -> None:
    resp = await client.put(f"/api/v1/users/{user_id}/fiscal-code", headers=admin,
                            json={"fiscal_code": code})
    assert resp.status == 200 and (await resp.json())["fiscal_code"] == code


async def test_corrected_fiscal_code_shuts_out_the_old_one_and_lets_the_person_in(
        sso_client: Client) -> None:
    nurse_id, admin = await _nurse_and_admin(sso_client, STRANGER_CODE)
    # Paolo cannot sign in; Luca, whose code was typed by mistake, gets in as the nurse
    resp, _ = await sso_sign_in(sso_client, "paolo")
    assert resp.status == 403
    resp, _ = await sso_sign_in(sso_client, "luca")
    assert resp.status == 303
    luca_cookies = sso_client.session.cookie_jar.filter_cookies(sso_client.make_url("/"))
    assert (await sso_client.get("/api/v1/users/me")).status == 200
    sso_client.session.cookie_jar.clear()

    await _correct(sso_client, admin, nurse_id, TWOFOLD_CODE)

    # Luca's open session ended, and his identity opens nothing any more
    sso_client.session.cookie_jar.update_cookies(luca_cookies)
    assert (await sso_client.get("/api/v1/users/me")).status == 401
    sso_client.session.cookie_jar.clear()
    resp, _ = await sso_sign_in(sso_client, "luca")
    assert resp.status == 403
    sso_client.session.cookie_jar.clear()
    resp, _ = await sso_sign_in(sso_client, "paolo")
    assert resp.status == 303
    me = await (await sso_client.get("/api/v1/users/me")).json()
    assert me["username"] == "nurse.neri"


async def test_a_login_half_way_with_the_old_code_cannot_finish(
        sso_client_2fa: Client) -> None:
    nurse_id, admin = await _nurse_and_admin(sso_client_2fa, STRANGER_CODE)
    resp, _ = await sso_sign_in(sso_client_2fa, "luca")  # the second factor is still due
    assert resp.headers["Location"] == "/login/second-factor/enrol"
    assert (await sso_client_2fa.get("/login/second-factor/enrol")).status == 200
    await _correct(sso_client_2fa, admin, nurse_id, TWOFOLD_CODE)
    resp = await sso_client_2fa.get("/login/second-factor/enrol", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/login"


async def test_a_choice_offered_with_the_old_code_cannot_open_the_account(
        sso_client: Client) -> None:
    await portal_patient(sso_client.server.app, STRANGER_CODE, "luca.gialli")
    nurse_id, admin = await _nurse_and_admin(sso_client, STRANGER_CODE)
    resp, _ = await sso_sign_in(sso_client, "luca")
    assert resp.status == 200 and "as a nurse" in await resp.text()
    await _correct(sso_client, admin, nurse_id, TWOFOLD_CODE)
    token = await csrf_of(sso_client, "/login")
    resp = await sso_client.post("/auth/oidc/choose", allow_redirects=False,
                                 data={"csrf_token": token, "account": nurse_id})
    assert resp.status == 400 and "as a nurse" not in await resp.text()
    assert (await sso_client.get("/api/v1/users/me")).status == 401
