"""The helpdesk's pages on a 390-pixel phone with JavaScript turned off, in real Chromium:
an administrator resets a doctor's lost second factor and corrects their fiscal code with
plain form posts; no page scrolls sideways and axe finds nothing."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect

from telemed import keys
from telemed.db.models import User
from tests.conftest import World
from tests.helpers.axe import assert_accessible
from tests.helpers.browser import PHONE, log_in
from tests.helpers.identity import with_totp

pytestmark = [pytest.mark.browser]


async def _fits(page: Page) -> None:
    wide = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert wide <= 1, f"{page.url} scrolls sideways by {wide}px"
    await assert_accessible(page)


async def test_helpdesk_pages_on_a_phone_without_javascript(
        browser: Browser, base_url: str, world: World) -> None:
    admin, doctor = await world.user("admin"), await world.user("doctor", name="dr.bianchi")
    await with_totp(world.app, doctor["id"])
    page = await _phone(browser, base_url, javascript=False)
    try:
        await log_in(page, admin["username"])
        await page.wait_for_url(f"{base_url}/users")
        await page.get_by_role("link", name="Dr.Bianchi").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Dr.Bianchi")
        await page.get_by_role("link", name="Reset the second factor").click()
        await expect(page.locator("[data-what-happens]")).to_contain_text(
            "At their next login they must set up a new one")
        await page.get_by_role("button", name="Reset the second factor").click()
        await expect(page.locator("#reason-error")).to_contain_text("10 to 1000 characters")
        await page.get_by_label("Reason").fill("Phone lost, helpdesk ticket 2231")
        await page.get_by_role("button", name="Reset the second factor").click()
        await expect(page.get_by_text("The second factor of dr.bianchi was reset.")).to_be_visible()
        await expect(page.locator("[data-factor]")).to_have_text("Not set up")

        await page.get_by_label("Fiscal code").fill("RSSMRA80A01H501X")
        await page.get_by_role("button", name="Save the fiscal code").click()
        await expect(page.locator("#fiscal_code-error")).to_contain_text("check for a typo")
        await page.get_by_label("Fiscal code").fill("rssmra80a01h501u")
        await page.get_by_role("button", name="Save the fiscal code").click()
        await expect(page.get_by_text("The fiscal code of dr.bianchi was saved.")).to_be_visible()
        await expect(page.get_by_label("Fiscal code")).to_have_value("RSSMRA80A01H501U")
    finally:
        await page.context.close()
    async with world.app[keys.SESSIONS]() as db:
        stored = await db.get(User, doctor["id"])
    assert stored is not None and stored.totp_secret is None
    assert stored.fiscal_code == "RSSMRA80A01H501U"

    # the same pages, with their errors shown, fit the phone and pass axe (which needs scripts)
    page = await _phone(browser, base_url, javascript=True)
    try:
        await log_in(page, admin["username"])
        await page.wait_for_url(f"{base_url}/users")
        await _fits(page)
        for path, field, typed, button in [
                (f"/users/{doctor['id']}", "Fiscal code", "NOTACODE", "Save the fiscal code"),
                (f"/users/{doctor['id']}/second-factor/reset", "Reason", "short",
                 "Reset the second factor")]:
            await page.goto(path)
            await _fits(page)
            await page.get_by_label(field).fill(typed)
            await page.get_by_role("button", name=button).click()
            await expect(page.locator(".error-message").first).to_be_visible()
            await _fits(page)
    finally:
        await page.context.close()


async def _phone(browser: Browser, base_url: str, *, javascript: bool) -> Page:
    context = await browser.new_context(base_url=base_url, locale="en-GB", viewport=PHONE,
                                        is_mobile=True, has_touch=True,
                                        java_script_enabled=javascript)
    context.set_default_timeout(15_000)
    return await context.new_page()
