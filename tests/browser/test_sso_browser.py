"""Chromium walks single sign-on with the real test provider: login page, SPID / CIE button,
the provider's login, back as the patient, logout at Telemed and at the provider."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, expect

from tests.helpers.sso import PATIENT_CODE, portal_patient


async def test_patient_signs_in_with_spid_cie_in_chromium(
        browser: Browser, sso_client: TestClient[Any, Any]) -> None:
    await portal_patient(sso_client.server.app, PATIENT_CODE, "anna.verdi")
    base = str(sso_client.make_url("/")).rstrip("/")
    context = await browser.new_context(base_url=base, locale="it-IT")
    context.set_default_timeout(15_000)
    page = await context.new_page()
    try:
        await page.goto("/login")
        button = page.get_by_role("link", name="Entra con SPID / CIE")
        await expect(button).to_be_visible()
        await button.click()
        # the provider's own login page (another origin)
        await page.locator("input[name=login]").fill("anna")
        await page.locator("input[name=password]").fill("any")
        await page.locator("button[type=submit]").first.click()
        await page.wait_for_url(f"{base}/my-record")
        await expect(page.get_by_text("Anna Verdi").first).to_be_visible()
        # logout: Telemed, then the provider asks to confirm ending its session
        await page.locator("form[action='/logout'] button").click()
        await page.wait_for_url("**/session/end**")
        await page.locator("button[autofocus], button[type=submit]").first.click()
        await page.wait_for_url(f"{base}/login**")
        await expect(page.get_by_role("link", name="Entra con SPID / CIE")).to_be_visible()
        me = await page.request.get(f"{base}/api/v1/users/me")
        assert me.status == 401
    finally:
        await context.close()
