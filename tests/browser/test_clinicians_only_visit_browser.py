"""A clinicians-only consult about a patient, in real Chromium with the login cookie: the
patient and the caregiver who acts for them see the invited consult on their agenda, not the
clinicians-only one, and its check-in page is the same "not found" page as an unknown visit;
the GP who asked for it opens its room."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, expect

from tests.conftest import World
from tests.helpers.browser import log_in, separate_pages
from tests.helpers.teleconsults import consult_visits

pytestmark = pytest.mark.browser


async def test_the_patients_side_never_meets_the_clinicians_only_consult(
    browser: Browser, base_url: str, client: TestClient[Any, Any], world: World,
    request: pytest.FixtureRequest,
) -> None:
    w = await consult_visits(client, world)
    hidden, invited = w["visits"]["hidden"], w["visits"]["invited"]
    names = ("patient", "caregiver", "gp")
    async with separate_pages(browser, base_url, names, request,
                              prefix="clinicians-only") as pages:
        for name, page in zip(names, pages, strict=True):
            await log_in(page, w[name]["username"])
            await expect(page).not_to_have_url(f"{base_url}/login")
        for page in pages[:2]:
            await page.goto("/visits")
            await expect(page.locator(f'main a[href^="/visits/{invited}"]').first).to_be_visible()
            await expect(page.locator(f'a[href*="{hidden}"]')).to_have_count(0)
            unknown = await page.goto(f"/visits/{'0' * 32}/check-in")
            unknown_text = await page.locator("main").inner_text()
            found = await page.goto(f"/visits/{hidden}/check-in")
            assert unknown is not None and found is not None
            assert found.status == unknown.status == 404
            assert await page.locator("main").inner_text() == unknown_text
        room = await pages[2].goto(f"/visits/{hidden}")
        assert room is not None and room.status == 200
        await expect(pages[2]).to_have_url(f"{base_url}/visits/{hidden}/room")
