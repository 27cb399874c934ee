"""The daily digest's settings in real Chromium, as a specialist on a phone would use them:
no axe violation and no sideways scrolling (phone and desktop, Italian and English); a
routine kind set to the daily summary and the time chosen with the page's own controls."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, ViewportSize, expect

from tests.conftest import World
from tests.helpers.axe import assert_accessible
from tests.helpers.browser import PHONE, log_in

pytestmark = pytest.mark.browser

SIZES: dict[str, ViewportSize] = {"phone": PHONE, "desktop": {"width": 1280, "height": 900}}


@pytest.mark.parametrize(("size", "language"), [("phone", "it"), ("desktop", "en")])
async def test_choosing_the_daily_summary_on_the_settings_page(
        browser: Browser, base_url: str, world: World, size: str, language: str) -> None:
    doctor = await world.user("doctor")
    italian = language == "it"
    context = await browser.new_context(base_url=base_url, locale="en-GB", viewport=SIZES[size],
                                        is_mobile=size == "phone", has_touch=size == "phone")
    context.set_default_timeout(15_000)
    page = await context.new_page()
    try:
        await log_in(page, doctor["username"])
        await page.goto("/settings/notifications")
        if italian:  # the header's language switch, as a person would
            await page.get_by_role("button", name="Italiano").click()
            await expect(page.get_by_role("heading", level=1)).to_have_text(
                "Impostazioni di notifica")
        wide = await page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert wide <= 1
        await assert_accessible(page)
        routine = page.locator("#delivery_teleconsult_request")
        await routine.select_option("digest")
        await page.locator("#digest_time").fill("06:45")
        await page.get_by_role("button", name="Salva" if italian else "Save").click()
        await expect(page.locator("#delivery_teleconsult_request")).to_have_value("digest")
        await expect(page.locator("#digest_time")).to_have_value("06:45")
        await expect(page.locator("#delivery_teleconsult_urgent")).to_have_count(0)
        label = "Nel riepilogo giornaliero" if italian else "In the daily summary"
        await expect(routine.locator("option:checked")).to_have_text(label)
        await assert_accessible(page)
    finally:
        await context.close()
