"""Single sign-on against a real OpenID provider (oidc-provider under node): the whole flow,
and every refusal changes nothing."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from aiohttp.test_utils import TestClient
from sqlmodel import col, func, select

from telemed import keys
from telemed.db.models import Delegation, IdentityEvent, User, UserSession
from telemed.demo import DEMO_PASSWORD, seed_region
from telemed.identity.dev_provider import DevProvider
from telemed.identity.oidc import OIDC, OidcError
from telemed.services.users import create_user
from tests.conftest import PASSWORD
from tests.helpers.pages import log_in, post_form
from tests.helpers.sso import (
    CLIENT_ID,
    PATIENT_CODE,
    TWOFOLD_CODE,
    portal_patient,
    sso_sign_in,
    start_sso,
    through_provider,
)

Client = TestClient[Any, Any]


async def _patient(client: Client, code: str, username: str) -> str:
    return await portal_patient(client.server.app, code, username)


async def _staff(client: Client, code: str, username: str, role: str = "doctor") -> str:
    app = client.server.app
    async with app[keys.SESSIONS]() as db:
        user = await create_user(db, username=username, password=PASSWORD, role=role,
                                 display_name=username.title())
        user.fiscal_code = code
        db.add(user)
        await db.commit()
        return user.id


_start = start_sso
_sign_in = sso_sign_in


async def _count(client: Client, model: Any) -> int:
    async with client.server.app[keys.SESSIONS]() as db:
        return int((await db.exec(select(func.count()).select_from(model))).one())


async def test_login_page_offers_spid_cie_in_both_languages(sso_client: Client) -> None:
    page = await (await sso_client.get("/login")).text()
    assert "Sign in with SPID / CIE" in page and 'href="/auth/oidc/login' in page
    await sso_client.post("/language", data={"lang": "it", "next": "/login",
                                             "csrf_token": _csrf(page)})
    page = await (await sso_client.get("/login")).text()
    assert "Entra con SPID / CIE" in page


def _csrf(page: str) -> str:
    marker = 'name="csrf_token" value="'
    return page.split(marker, 1)[1].split('"', 1)[0]


async def test_authorization_request_uses_pkce_state_and_nonce(sso_client: Client) -> None:
    query = parse_qs(urlsplit(await _start(sso_client)).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["response_type"] == ["code"] and query["client_id"] == [CLIENT_ID]
    assert len(query["state"][0]) >= 32 and len(query["nonce"][0]) >= 32


async def test_patient_signs_in_with_spid_and_logs_out_at_the_provider(
        sso_client: Client) -> None:
    user_id = await _patient(sso_client, PATIENT_CODE, "anna.verdi")
    resp, _ = await _sign_in(sso_client, "anna")
    assert resp.status == 303 and resp.headers["Location"] == "/my-record"
    me = await sso_client.get("/api/v1/users/me")
    assert me.status == 200 and (await me.json())["id"] == user_id
    async with sso_client.server.app[keys.SESSIONS]() as db:
        row = (await db.exec(select(UserSession).where(UserSession.user_id == user_id))).one()
    assert row.method == "oidc" and row.id_token and row.address
    listed = (await (await sso_client.get("/api/v1/users/me/sessions")).json())["items"]
    assert [(i["method"], i["current"]) for i in listed] == [("oidc", True)]
    page = await (await sso_client.get("/my-record")).text()
    out = await sso_client.post("/logout", data={"csrf_token": _csrf(page)},
                                allow_redirects=False)
    body = await out.text()
    assert out.status == 200 and "/session/end" in body and "id_token_hint=" in body
    assert (await sso_client.get("/api/v1/users/me")).status == 401


async def test_replayed_callback_and_wrong_state_are_refused(sso_client: Client) -> None:
    await _patient(sso_client, PATIENT_CODE, "anna.verdi")
    resp, callback = await _sign_in(sso_client, "anna")
    assert resp.status == 303
    sessions_before = await _count(sso_client, UserSession)
    split = urlsplit(callback)
    again = await sso_client.get(f"{split.path}?{split.query}", allow_redirects=False)
    assert again.status == 400 and "no_login" in await again.text()
    # a new login in this browser, answered with the old code: the provider refuses it
    query = parse_qs(split.query)
    state = parse_qs(urlsplit(await _start(sso_client)).query)["state"][0]
    replay = await sso_client.get("/auth/oidc/callback",
                                  params={"state": state, "code": query["code"][0]},
                                  allow_redirects=False)
    assert replay.status == 400 and "code_refused" in await replay.text()
    # a wrong state: refused before the code is even redeemed
    callback2 = await through_provider(await _start(sso_client), "anna")
    query2 = parse_qs(urlsplit(callback2).query)
    wrong = await sso_client.get("/auth/oidc/callback",
                                 params={"state": "forged" + query2["state"][0],
                                         "code": query2["code"][0]},
                                 allow_redirects=False)
    assert wrong.status == 400 and "state_mismatch" in await wrong.text()
    assert await _count(sso_client, UserSession) == sessions_before


async def test_unknown_fiscal_number_gets_a_clear_page_and_no_account(
        sso_client: Client) -> None:
    users = await _count(sso_client, User)
    resp, _ = await _sign_in(sso_client, "luca")
    assert resp.status == 403 and "no_account" in await resp.text()
    resp, _ = await _sign_in(sso_client, "nocode")
    assert resp.status == 403 and "no_fiscal_number" in await resp.text()
    assert await _count(sso_client, User) == users
    assert await _count(sso_client, UserSession) == 0
    assert (await sso_client.get("/api/v1/users/me")).status == 401


async def test_person_with_patient_and_staff_accounts_chooses_and_both_are_audited(
        sso_client: Client) -> None:
    patient_user = await _patient(sso_client, TWOFOLD_CODE, "paolo.neri")
    doctor = await _staff(sso_client, TWOFOLD_CODE, "dr.neri")
    resp, _ = await _sign_in(sso_client, "paolo")
    page = await resp.text()
    assert resp.status == 200 and "as a doctor" in page and "as a patient" in page
    assert (await sso_client.get("/api/v1/users/me")).status == 401  # nothing open yet
    forged = await sso_client.post("/auth/oidc/choose",
                                   data={"csrf_token": _csrf(page), "account": "someone-else"})
    assert forged.status == 400
    chosen = await sso_client.post("/auth/oidc/choose",
                                   data={"csrf_token": _csrf(page), "account": doctor},
                                   allow_redirects=False)
    assert chosen.status == 303 and chosen.headers["Location"] == "/patients"
    assert (await (await sso_client.get("/api/v1/users/me")).json())["id"] == doctor
    async with sso_client.server.app[keys.SESSIONS]() as db:
        events = {(e.user_id, e.kind) for e in (await db.exec(select(IdentityEvent))).all()}
    assert {(doctor, "sso_choice_offered"), (patient_user, "sso_choice_offered"),
            (doctor, "sso_login"), (patient_user, "sso_not_chosen")} <= events
    # the choice cannot be replayed to open the other account
    fresh = _csrf(await (await sso_client.get("/patients")).text())
    again = await sso_client.post("/auth/oidc/choose",
                                  data={"csrf_token": fresh, "account": patient_user})
    assert again.status == 400 and "no_login" in await again.text()
    assert (await (await sso_client.get("/api/v1/users/me")).json())["id"] == doctor


async def test_id_token_for_another_audience_or_expired_is_refused(
        sso_client: Client, oidc_provider: DevProvider) -> None:
    client = sso_client.server.app[OIDC]
    now = int(time.time())
    base = {"iss": oidc_provider.issuer, "sub": "anna", "aud": CLIENT_ID, "iat": now,
            "exp": now + 300, "nonce": "n-1", "fiscal_number": f"TINIT-{PATIENT_CODE}"}
    good = oidc_provider.sign(base)
    assert (await client.validate_id_token(good, nonce="n-1"))["sub"] == "anna"
    for bad, why in [
        ({**base, "aud": "another-app"}, "another client"),
        ({**base, "aud": ["another-app", CLIENT_ID]}, "authorized party"),
        ({**base, "exp": now - 120, "iat": now - 720}, "expired"),
        ({**base, "iss": "http://127.0.0.1:9"}, "iss"),
        ({**base, "nonce": "n-2"}, "nonce"),
    ]:
        with pytest.raises(OidcError) as refused:
            await client.validate_id_token(oidc_provider.sign(bad), nonce="n-1")
        assert refused.value.code == "invalid_token", why
    with pytest.raises(OidcError):  # signed by a key the provider never published
        await client.validate_id_token(oidc_provider.sign(base, foreign=True), nonce="n-1")
    with pytest.raises(OidcError):  # alg none / tampered payload
        head, body, sig = good.split(".")
        await client.validate_id_token(f"{head}.{body[:-2]}AA.{sig}", nonce="n-1")


async def test_provider_key_rotation_is_followed(sso_client: Client,
                                                 oidc_provider: DevProvider) -> None:
    await _patient(sso_client, PATIENT_CODE, "anna.verdi")
    resp, _ = await _sign_in(sso_client, "anna")
    assert resp.status == 303
    old_kid = oidc_provider.keys.keys[0].kid
    await oidc_provider.rotate_keys()
    assert oidc_provider.keys.keys[0].kid != old_kid
    sso_client.session.cookie_jar.clear()
    sso_client.server.app[OIDC]._keys_at -= 60  # the refresh limit has passed
    resp, _ = await _sign_in(sso_client, "anna")
    assert resp.status == 303 and resp.headers["Location"] == "/my-record"
    async with sso_client.server.app[keys.SESSIONS]() as db:
        count = (await db.exec(select(func.count()).select_from(UserSession)
                               .where(col(UserSession.method) == "oidc"))).one()
    assert count == 2


async def test_demo_patient_signs_in_through_spid_cie_and_demo_doctor_with_totp(
        sso_client: Client) -> None:
    """The issue's "done": the demo citizen is the demo patient; the demo doctor sets up TOTP
    and from then on logs in with the password and a code."""
    async with sso_client.server.app[keys.SESSIONS]() as db:
        await seed_region(db)
    resp, _ = await _sign_in(sso_client, "giuseppe.esposito")
    assert resp.status == 303 and resp.headers["Location"] == "/my-record"
    me = await (await sso_client.get("/api/v1/users/me")).json()
    assert me["username"] == "giuseppe.esposito"
    sso_client.session.cookie_jar.clear()
    resp = await log_in(sso_client, "dr.bianchi", DEMO_PASSWORD)
    assert resp.status == 303 and resp.headers["Location"] == "/patients"
    page = await (await sso_client.get("/account/second-factor")).text()
    secret = re.search(r"data-totp-secret>([A-Z2-7]+)<", page)
    assert secret
    done = await post_form(sso_client, "/account/second-factor",
                           {"code": pyotp.TOTP(secret[1]).now()}, page="/account/sessions")
    assert done.status == 200 and "data-recovery-codes" in await done.text()
    sso_client.session.cookie_jar.clear()
    resp = await log_in(sso_client, "dr.bianchi", DEMO_PASSWORD)
    assert resp.headers["Location"] == "/login/second-factor"  # asked, even not required
    resp = await post_form(sso_client, "/login/second-factor",
                           {"code": pyotp.TOTP(secret[1]).at(time.time() + 30)},
                           page="/login/second-factor")
    assert resp.status == 303 and resp.headers["Location"] == "/patients"


async def test_staff_account_created_with_a_fiscal_code_signs_in_with_spid(
        sso_client: Client) -> None:
    app = sso_client.server.app
    async with app[keys.SESSIONS]() as db:
        await create_user(db, username="admin.sso", password=PASSWORD, role="admin",
                          display_name="Admin")
        await db.commit()
    token = await sso_client.post("/api/v1/auth/token",
                                  json={"username": "admin.sso", "password": PASSWORD})
    headers = {"Authorization": f"Bearer {(await token.json())['access_token']}"}
    bad = await sso_client.post("/api/v1/users", headers=headers, json={
        "username": "nurse.neri", "password": "quiet-harbour-lantern-27", "role": "nurse",
        "display_name": "Paolo Neri", "fiscal_code": "NOTACODE"})
    assert bad.status == 422 and "fiscal_code" in (await bad.json())["error"]["fields"]
    made = await sso_client.post("/api/v1/users", headers=headers, json={
        "username": "nurse.neri", "password": "quiet-harbour-lantern-27", "role": "nurse",
        "display_name": "Paolo Neri", "fiscal_code": TWOFOLD_CODE.lower()})
    assert made.status == 201 and (await made.json())["fiscal_code"] == TWOFOLD_CODE
    resp, _ = await _sign_in(sso_client, "paolo")
    assert resp.status == 303 and resp.headers["Location"] == "/patients"
    assert (await (await sso_client.get("/api/v1/users/me")).json())["username"] == "nurse.neri"


async def test_spid_level_2_counts_as_second_factor_level_1_does_not(
        sso_client_2fa: Client) -> None:
    doctor = await _staff(sso_client_2fa, TWOFOLD_CODE, "dr.neri")
    resp, _ = await _sign_in(sso_client_2fa, "paolo.l1")
    assert resp.status == 303 and resp.headers["Location"] == "/login/second-factor/enrol"
    assert (await sso_client_2fa.get("/api/v1/users/me")).status == 401
    assert await _count(sso_client_2fa, UserSession) == 0
    sso_client_2fa.session.cookie_jar.clear()
    resp, _ = await _sign_in(sso_client_2fa, "paolo.l2")
    assert resp.status == 303 and resp.headers["Location"] == "/patients"
    async with sso_client_2fa.server.app[keys.SESSIONS]() as db:
        row = (await db.exec(select(UserSession).where(UserSession.user_id == doctor))).one()
    assert (row.second_factor, row.acr) == ("idp", "https://www.spid.gov.it/SpidL2")


async def test_delegate_signs_in_as_family_member(sso_client: Client) -> None:
    app = sso_client.server.app
    patient_user = await _patient(sso_client, PATIENT_CODE, "anna.verdi")
    async with app[keys.SESSIONS]() as db:
        owner = await db.get(User, patient_user)
        assert owner is not None and owner.patient_id is not None
        daughter = await create_user(db, username="figlia.neri", password=PASSWORD,
                                     role="patient", display_name="Figlia",
                                     fiscal_code=TWOFOLD_CODE)
        db.add(Delegation(patient_id=owner.patient_id, delegate_id=daughter.id,
                          relationship="caregiver", granted_by=owner.id))
        await db.commit()
    # she is a patient herself: her own portal account is matched by her record's code (a
    # staff or delegate code is one account's only: users.fiscal_code is unique)
    own = await _patient(sso_client, TWOFOLD_CODE, "neri.f")
    resp, _ = await _sign_in(sso_client, "paolo")
    page = await resp.text()
    assert "as a family member or carer" in page and "as a patient" in page
    chosen = await sso_client.post("/auth/oidc/choose", allow_redirects=False,
                                   data={"csrf_token": _csrf(page), "account": daughter.id})
    assert chosen.status == 303 and chosen.headers["Location"] == "/my-record"
    me = await (await sso_client.get("/api/v1/users/me")).json()
    assert me["id"] == daughter.id != own
