"""An administrator's pages and API for another person's sign-in: the reset of a lost second
factor (confirmation, reason, not one's own) and the fiscal code single sign-on matches by
(validated, unique, audited masked). Every refusal changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import col, select

from telemed import keys
from telemed.db.models import AuditEvent, IdentityEvent, Notification, User, UserSession
from telemed.identity.accounts import accounts_for_fiscal_code
from telemed.services.sessions import issue_access_token
from tests.conftest import World
from tests.helpers.identity import with_totp
from tests.helpers.pages import Client, field_error, log_in, post_form, text_of

MARIO = "RSSMRA80A01H501U"
GIULIA = "BNCGLI00B69F205J"


async def _with_totp(world: World, user_id: str) -> None:
    await with_totp(world.app, user_id)


async def _user(world: World, user_id: str) -> User:
    async with world.app[keys.SESSIONS]() as db:
        user = await db.get(User, user_id)
    assert user is not None
    return user


async def _rows(world: World, model: Any, *where: Any) -> list[Any]:
    async with world.app[keys.SESSIONS]() as db:
        return list((await db.exec(select(model).where(*where))).all())


# --- second factor reset from the pages --------------------------------------------------


async def test_admin_resets_a_factor_from_the_pages_after_confirming(
        client: Client, world: World) -> None:
    admin, doctor = await world.user("admin"), await world.user("doctor")
    await _with_totp(world, doctor["id"])
    await log_in(client, admin["username"])
    users = await (await client.get("/users")).text()
    assert f'href="/users/{doctor["id"]}"' in users
    detail = await (await client.get(f"/users/{doctor['id']}")).text()
    assert f'href="/users/{doctor["id"]}/second-factor/reset"' in detail
    confirm = await client.get(f"/users/{doctor['id']}/second-factor/reset")
    said = text_of(await confirm.text())
    assert confirm.status == 200
    assert "the authenticator app, the recovery codes and any security key" in said
    assert "Sessions already open stay open." in said
    path = f"/users/{doctor['id']}/second-factor/reset"
    for bad in ("", "lost", "x" * 1001):
        resp = await post_form(client, path, {"reason": bad})
        assert resp.status == 422, bad
        assert "10 to 1000 characters" in field_error(await resp.text(), "reason")
    assert (await _user(world, doctor["id"])).totp_secret is not None  # nothing changed

    resp = await post_form(client, path, {"reason": "  phone stolen, helpdesk ticket 4711  "})
    assert resp.status == 303 and resp.headers["Location"] == f"/users/{doctor['id']}"
    page = text_of(await (await client.get(resp.headers["Location"])).text())
    assert f"The second factor of {doctor['username']} was reset." in page
    assert "Not set up" in page
    # the same service as the API: the same record, notification and audit row
    assert (await _user(world, doctor["id"])).totp_secret is None
    events = await _rows(world, IdentityEvent, IdentityEvent.kind == "second_factor_reset")
    assert [(e.user_id, e.actor_id, e.detail) for e in events] == [
        (doctor["id"], admin["id"], "phone stolen, helpdesk ticket 4711")]
    told = await _rows(world, Notification, Notification.user_id == doctor["id"])
    assert [n.kind for n in told] == ["account_security"]
    audited = await _rows(world, AuditEvent, AuditEvent.resource_id == doctor["id"])
    assert [(a.actor_id, a.reason_code) for a in audited] == [
        (admin["id"], "second_factor_reset")]


async def test_reset_page_in_italian(client: Client, world: World) -> None:
    admin, nurse = await world.user("admin"), await world.user("nurse")
    await log_in(client, admin["username"])
    await post_form(client, "/language", {"lang": "it", "next": "/"})
    page = text_of(await (await client.get(f"/users/{nurse['id']}/second-factor/reset")).text())
    assert "Azzera il secondo fattore" in page and "Che cosa succede:" in page
    resp = await post_form(client, f"/users/{nurse['id']}/second-factor/reset", {"reason": "no"})
    assert "Indica il motivo" in field_error(await resp.text(), "reason")


async def test_admin_cannot_reset_their_own_factor_from_the_page(
        client: Client, world: World) -> None:
    admin = await world.user("admin")
    await log_in(client, admin["username"])
    await _with_totp(world, admin["id"])  # after the login: it would be asked for
    page = text_of(await (await client.get(f"/users/{admin['id']}")).text())
    assert "Another administrator must reset your own second factor." in page
    resp = await post_form(client, f"/users/{admin['id']}/second-factor/reset",
                           {"reason": "I lost my phone on the train"})
    assert resp.status == 409
    assert "Another administrator must reset" in text_of(await resp.text())
    assert (await _user(world, admin["id"])).totp_secret is not None
    assert not await _rows(world, IdentityEvent, IdentityEvent.kind == "second_factor_reset")


async def test_form_posts_without_the_csrf_token_are_refused(
        client: Client, world: World) -> None:
    admin, doctor = await world.user("admin"), await world.user("doctor")
    await _with_totp(world, doctor["id"])
    await log_in(client, admin["username"])
    resp = await client.post(f"/users/{doctor['id']}/second-factor/reset",
                             data={"reason": "phone lost on the ward"}, allow_redirects=False)
    assert resp.status == 403
    resp = await client.post(f"/users/{doctor['id']}/fiscal-code",
                             data={"fiscal_code": MARIO}, allow_redirects=False)
    assert resp.status == 403
    user = await _user(world, doctor["id"])
    assert user.totp_secret is not None and user.fiscal_code is None


# --- who may reach these ------------------------------------------------------------------

PAGES = [("GET", "/users/{id}"), ("GET", "/users/{id}/second-factor/reset"),
         ("POST", "/users/{id}/second-factor/reset"), ("POST", "/users/{id}/fiscal-code")]


@pytest.mark.parametrize("role", ["doctor", "nurse", "patient"])
async def test_only_administrators_reach_the_pages_and_the_api(
        client: Client, world: World, role: str) -> None:
    target = await world.user("doctor")
    await _with_totp(world, target["id"])
    patient_id = (await world.patient()).id if role == "patient" else None
    caller = await world.user(role, patient_id=patient_id)
    headers = await world.token(caller["username"])
    await log_in(client, caller["username"])
    for method, path in PAGES:
        url = path.format(id=target["id"])
        if method == "GET":
            resp = await client.get(url, allow_redirects=False)
        else:
            resp = await post_form(client, url, {"reason": "phone lost on the ward",
                                                 "fiscal_code": MARIO})
        assert resp.status == 403, (method, path)
    client.session.cookie_jar.clear()
    resp = await client.put(f"/api/v1/users/{target['id']}/fiscal-code",
                            json={"fiscal_code": MARIO}, headers=headers)
    assert resp.status == 403
    resp = await client.post(f"/api/v1/users/{target['id']}/second-factor/reset",
                             json={"reason": "phone lost on the ward"}, headers=headers)
    assert resp.status == 403
    user = await _user(world, target["id"])
    assert user.totp_secret is not None and user.fiscal_code is None


async def test_admin_sees_an_account_not_the_patient_behind_it(
        client: Client, world: World) -> None:
    admin = await world.user("admin")
    patient = await world.patient()
    portal = await world.user("patient", patient_id=patient.id)
    await log_in(client, admin["username"])
    before = await _rows(world, AuditEvent, col(AuditEvent.patient_id) == patient.id)
    for path in (f"/users/{portal['id']}", f"/users/{portal['id']}/second-factor/reset"):
        page = await (await client.get(path)).text()
        for clinical in (patient.fiscal_code, patient.given_name, patient.family_name,
                         patient.birth_date.isoformat()):
            assert clinical not in page, (path, clinical)
    assert "fiscal code of the patient's record" in text_of(
        await (await client.get(f"/users/{portal['id']}")).text())
    assert await _rows(world, AuditEvent, col(AuditEvent.patient_id) == patient.id) == before
    # the patient's own code is the record's: this path does not touch it
    resp = await post_form(client, f"/users/{portal['id']}/fiscal-code", {"fiscal_code": MARIO})
    assert resp.status == 409
    assert "correct it on the patient's page" in text_of(await resp.text())
    assert (await _user(world, portal["id"])).fiscal_code is None


# --- fiscal code ----------------------------------------------------------------------------


async def _oidc_token(world: World, user_id: str) -> dict[str, str]:
    """A bearer token whose session was opened through single sign-on."""
    async with world.app[keys.SESSIONS]() as db:
        user = await db.get(User, user_id)
        assert user is not None
        token = await issue_access_token(db, user, secret=world.app[keys.SETTINGS].secret_key,
                                         ttl_seconds=600, method="oidc")
    return {"Authorization": f"Bearer {token}"}


async def test_admin_corrects_a_fiscal_code_from_the_page(client: Client, world: World) -> None:
    admin, nurse, other = (await world.user("admin"), await world.user("nurse"),
                           await world.user("doctor"))
    password_session = await world.token(nurse["username"])
    await log_in(client, admin["username"])
    path = f"/users/{nurse['id']}/fiscal-code"
    resp = await post_form(client, path, {"fiscal_code": MARIO})
    assert resp.status == 303
    page = text_of(await (await client.get(f"/users/{nurse['id']}")).text())
    assert "was saved" in page and f'value="{MARIO}"' in await (
        await client.get(f"/users/{nurse['id']}")).text()
    # the other doctor has GIULIA's code; the nurse's code must not clash with it
    resp = await post_form(client, f"/users/{other['id']}/fiscal-code",
                           {"fiscal_code": GIULIA.lower()})
    assert resp.status == 303
    sso_session = await _oidc_token(world, nurse["id"])
    client_cookies = client.session.cookie_jar
    for bad, status, said in [("RSSMRA80A01H501X", 422, "does not match the others"),
                              ("NOTACODE", 422, "16 letters and digits"),
                              (f" {GIULIA} ", 409, "Another user already has this fiscal code")]:
        resp = await post_form(client, path, {"fiscal_code": bad})
        assert resp.status == status, bad
        page = await resp.text()
        assert said in field_error(page, "fiscal_code"), bad
        assert bad.strip() in page  # the typed value is kept for correcting
    assert (await _user(world, nurse["id"])).fiscal_code == MARIO  # nothing changed
    client_cookies.clear()
    assert (await client.get("/api/v1/users/me", headers=sso_session)).status == 200

    await log_in(client, admin["username"])
    correct = "RSSMRA80A41H501Y"  # the same name, born a woman the same day
    resp = await post_form(client, path, {"fiscal_code": correct.lower()})
    assert resp.status == 303
    assert (await _user(world, nurse["id"])).fiscal_code == correct
    async with world.app[keys.SESSIONS]() as db:
        assert [c.user_id for c in await accounts_for_fiscal_code(db, correct)] == [nurse["id"]]
        assert await accounts_for_fiscal_code(db, MARIO) == []  # the old code opens nothing
    client.session.cookie_jar.clear()
    # sessions opened through single sign-on (by whoever held the old code) ended; others not
    assert (await client.get("/api/v1/users/me", headers=sso_session)).status == 401
    assert (await client.get("/api/v1/users/me", headers=password_session)).status == 200
    revoked = await _rows(world, UserSession, UserSession.user_id == nurse["id"],
                          col(UserSession.revoked_at).is_not(None))
    assert [(r.method, r.revoked_reason) for r in revoked] == [("oidc", "fiscal_code_changed")]
    audited = await _rows(world, AuditEvent, AuditEvent.resource_id == nurse["id"])
    assert [(a.reason_code, a.reason_params) for a in audited] == [
        ("fiscal_code_set", {"new": "RSS**********01U"}),
        ("fiscal_code_changed", {"old": "RSS**********01U", "new": "RSS**********01Y"})]
    for row in audited + await _rows(world, IdentityEvent,
                                     IdentityEvent.kind == "fiscal_code_changed"):
        assert MARIO not in str(row) and correct not in str(row)
    told = await _rows(world, Notification, Notification.user_id == nurse["id"])
    assert [(n.kind, n.title_code) for n in told] == [
        ("account_security", "account_fiscal_code")] * 2


async def test_fiscal_code_api(client: Client, world: World) -> None:
    admin, doctor, other = (await world.user("admin"), await world.user("doctor"),
                            await world.user("doctor"))
    patient = await world.patient()
    portal = await world.user("patient", patient_id=patient.id)
    headers = await world.token(admin["username"])
    path = f"/api/v1/users/{doctor['id']}/fiscal-code"
    resp = await client.put(path, json={"fiscal_code": MARIO.lower()}, headers=headers)
    assert resp.status == 200 and (await resp.json())["fiscal_code"] == MARIO
    for body, status, code in [({"fiscal_code": "RSSMRA80A01H501X"}, 422, "validation_error"),
                               ({"fiscal_code": 5}, 422, "validation_error"),
                               ({}, 422, "validation_error"),
                               ({"fiscal_code": MARIO, "role": "admin"}, 422,
                                "validation_error")]:
        resp = await client.put(f"/api/v1/users/{other['id']}/fiscal-code", json=body,
                                headers=headers)
        assert resp.status == status, body
        assert (await resp.json())["error"]["code"] == code
    resp = await client.put(f"/api/v1/users/{other['id']}/fiscal-code",
                            json={"fiscal_code": MARIO}, headers=headers)
    assert resp.status == 409
    assert (await resp.json())["error"]["code"] == "user_fiscal_code_taken"
    resp = await client.put(f"/api/v1/users/{portal['id']}/fiscal-code",
                            json={"fiscal_code": GIULIA}, headers=headers)
    assert (resp.status, (await resp.json())["error"]["code"]) == (
        409, "fiscal_code_on_patient_record")
    resp = await client.put("/api/v1/users/nobody/fiscal-code", json={"fiscal_code": GIULIA},
                            headers=headers)
    assert resp.status == 404
    assert (await _user(world, other["id"])).fiscal_code is None
    assert (await _user(world, portal["id"])).fiscal_code is None
    # the same code again changes nothing and records nothing; null removes it
    resp = await client.put(path, json={"fiscal_code": MARIO}, headers=headers)
    assert resp.status == 200
    resp = await client.put(path, json={"fiscal_code": None}, headers=headers)
    assert resp.status == 200 and (await resp.json())["fiscal_code"] is None
    audited = await _rows(world, AuditEvent, AuditEvent.resource_id == doctor["id"])
    assert [a.reason_code for a in audited] == ["fiscal_code_set", "fiscal_code_removed"]
    # a new user may not take a code another user has either
    await client.put(path, json={"fiscal_code": MARIO}, headers=headers)
    resp = await client.post("/api/v1/users", headers=headers, json={
        "username": "nurse.twin", "password": "quiet-harbour-lantern-27", "role": "nurse",
        "display_name": "Twin", "fiscal_code": MARIO})
    assert (resp.status, (await resp.json())["error"]["code"]) == (409, "user_fiscal_code_taken")
