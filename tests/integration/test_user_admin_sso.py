"""A mistyped staff fiscal code corrected by an administrator, against the real OpenID
provider: the person it wrongly named is shut out (their session too), the right person
signs in."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.services.users import create_user
from tests.conftest import PASSWORD
from tests.helpers.sso import STRANGER_CODE, TWOFOLD_CODE, sso_sign_in

Client = TestClient[Any, Any]


async def test_corrected_fiscal_code_shuts_out_the_old_one_and_lets_the_person_in(
        sso_client: Client) -> None:
    app = sso_client.server.app
    async with app[keys.SESSIONS]() as db:
        await create_user(db, username="admin.cf", password=PASSWORD, role="admin",
                          display_name="Admin")
        nurse = await create_user(db, username="nurse.neri", password=PASSWORD, role="nurse",
                                  display_name="Paolo Neri", fiscal_code=STRANGER_CODE)
        await db.commit()
    token = await sso_client.post("/api/v1/auth/token",
                                  json={"username": "admin.cf", "password": PASSWORD})
    admin = {"Authorization": f"Bearer {(await token.json())['access_token']}"}
    # Paolo cannot sign in; Luca, whose code was typed by mistake, gets in as the nurse
    resp, _ = await sso_sign_in(sso_client, "paolo")
    assert resp.status == 403
    resp, _ = await sso_sign_in(sso_client, "luca")
    assert resp.status == 303
    luca_cookies = sso_client.session.cookie_jar.filter_cookies(sso_client.make_url("/"))
    assert (await sso_client.get("/api/v1/users/me")).status == 200
    sso_client.session.cookie_jar.clear()

    resp = await sso_client.put(f"/api/v1/users/{nurse.id}/fiscal-code", headers=admin,
                                json={"fiscal_code": TWOFOLD_CODE})
    assert resp.status == 200 and (await resp.json())["fiscal_code"] == TWOFOLD_CODE

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
