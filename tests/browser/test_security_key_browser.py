"""WebAuthn in Chromium with a virtual authenticator (DevTools protocol): a doctor adds a
security key, then logs in with password + key; a replayed assertion is refused. Under
TELEMED_REQUIRE_2FA=staff a nurse's first factor, at the forced enrolment, is a key."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, Page, expect
from sqlmodel import col, select

from telemed import keys
from telemed.db.models import User, UserSession, WebAuthnCredential
from telemed.services.users import create_user
from tests.conftest import PASSWORD
from tests.helpers.browser import log_in


async def test_doctor_adds_a_security_key_and_logs_in_with_it(
        browser: Browser, localhost_client: TestClient[Any, Any]) -> None:
    app = localhost_client.server.app
    doctor, base, page = await _with_key(browser, localhost_client, "dr.chiave", "doctor")
    context = page.context
    try:
        await log_in(page, "dr.chiave")
        await page.wait_for_url(f"{base}/patients")
        await page.goto("/account/second-factor")
        await page.get_by_label("Name of the key").fill("Chiave USB")
        await page.get_by_role("button", name="Add a security key").click()
        await expect(page.get_by_text("Security key added.")).to_be_visible()
        async with app[keys.SESSIONS]() as db:
            stored = (await db.exec(select(WebAuthnCredential))).all()
        assert [(k.user_id, k.name) for k in stored] == [(doctor.id, "Chiave USB")]

        await page.locator("form[action='/logout'] button").click()
        await log_in(page, "dr.chiave")
        await page.wait_for_url(f"{base}/login/second-factor")
        async with page.expect_request("**/login/second-factor/key") as sent:
            await page.get_by_role("button", name="Use my security key").click()
        assertion = (await sent.value).post_data_json
        await page.wait_for_url(f"{base}/patients")
        async with app[keys.SESSIONS]() as db:
            rows = (await db.exec(select(UserSession)
                                  .where(col(UserSession.revoked_at).is_(None)))).all()
        assert [r.second_factor for r in rows] == ["webauthn"]

        # the same assertion replayed in a new login: refused, nothing opened
        await page.locator("form[action='/logout'] button").click()
        await log_in(page, "dr.chiave")
        await page.wait_for_url(f"{base}/login/second-factor")
        status = await page.evaluate("""async (body) => {
            const token = document.querySelector('meta[name="csrf-token"]').content;
            const headers = {"Content-Type": "application/json", "X-CSRF-Token": token};
            await fetch("/login/second-factor/key/options", {method: "POST", headers});
            const resp = await fetch("/login/second-factor/key",
                                     {method: "POST", headers, body: JSON.stringify(body)});
            return resp.status;
        }""", assertion)
        assert status == 401
        me = await page.request.get(f"{base}/api/v1/users/me")
        assert me.status == 401
    finally:
        await context.close()


async def test_first_factor_at_a_forced_enrolment_can_be_a_security_key(
        browser: Browser, localhost_client_2fa: TestClient[Any, Any]) -> None:
    app = localhost_client_2fa.server.app
    nurse, base, page = await _with_key(browser, localhost_client_2fa, "inf.chiave", "nurse")
    context = page.context
    try:
        await log_in(page, "inf.chiave")
        await page.wait_for_url(f"{base}/login/second-factor/enrol")
        assert (await page.request.get(f"{base}/api/v1/users/me")).status == 401
        await page.get_by_label("Name of the key").fill("Chiave del reparto")
        await page.get_by_role("button", name="Add a security key").click()
        await page.wait_for_url(f"{base}/patients")
        async with app[keys.SESSIONS]() as db:
            stored = (await db.exec(select(WebAuthnCredential))).all()
            rows = (await db.exec(select(UserSession)
                                  .where(col(UserSession.revoked_at).is_(None)))).all()
        assert [(k.user_id, k.name) for k in stored] == [(nurse.id, "Chiave del reparto")]
        assert [(r.user_id, r.second_factor) for r in rows] == [(nurse.id, "webauthn")]

        # next time the key is asked for, and no second key can be added at login
        await page.locator("form[action='/logout'] button").click()
        await log_in(page, "inf.chiave")
        await page.wait_for_url(f"{base}/login/second-factor")
        status = await page.evaluate("""async () => {
            const token = document.querySelector('meta[name="csrf-token"]').content;
            const resp = await fetch("/login/second-factor/enrol/key/options", {method: "POST",
                headers: {"Content-Type": "application/json", "X-CSRF-Token": token}});
            return resp.status;
        }""")
        assert status == 401
        await page.get_by_role("button", name="Use my security key").click()
        await page.wait_for_url(f"{base}/patients")
    finally:
        await context.close()


async def _with_key(browser: Browser, client: TestClient[Any, Any], username: str,
                    role: str) -> tuple[User, str, Page]:
    """A new user, the app's address, and a page of a browser whose virtual USB
    authenticator (Chromium's, through the DevTools protocol) is touched automatically."""
    async with client.server.app[keys.SESSIONS]() as db:
        user = await create_user(db, username=username, password=PASSWORD, role=role,
                                 display_name=username.title())
        await db.commit()
    base = f"http://localhost:{client.port}"
    context = await browser.new_context(base_url=base, locale="en-GB")
    context.set_default_timeout(15_000)
    page = await context.new_page()
    cdp = await context.new_cdp_session(page)
    await cdp.send("WebAuthn.enable")
    await cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "usb", "hasResidentKey": False,
        "hasUserVerification": False, "automaticPresenceSimulation": True}})
    return user, base, page
