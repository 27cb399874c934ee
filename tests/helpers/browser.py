"""Driving the pages in Chromium (playwright)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize

from tests.conftest import PASSWORD
from tests.helpers.paths import ROOT

PHONE: ViewportSize = {"width": 390, "height": 844}


async def phone(browser: Browser, base_url: str, locale: str = "en-GB") -> Page:
    """A page in a phone-sized (390 × 844), touch browser context of its own."""
    context = await browser.new_context(base_url=base_url, locale=locale, viewport=PHONE,
                                        has_touch=True, is_mobile=True)
    context.set_default_timeout(10_000)
    return await context.new_page()


async def log_in(page: Page, username: str) -> None:
    await page.goto("/login")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()


@contextlib.asynccontextmanager
async def separate_pages(browser: Browser, base_url: str, names: tuple[str, ...],
                         request: pytest.FixtureRequest, *, prefix: str,
                         height: int = 900, init_script: str | None = None
                         ) -> AsyncIterator[list[Page]]:
    """One page per person, each in its own browser context (own cookies); screenshots
    named `{prefix}-{name}.png` in test-artifacts/ when the test failed."""
    contexts: list[BrowserContext] = []
    pages: list[Page] = []
    for _ in names:
        context = await browser.new_context(base_url=base_url, locale="en-GB",
                                            viewport={"width": 1200, "height": height})
        context.set_default_timeout(15_000)
        if init_script is not None:
            await context.add_init_script(init_script)
        contexts.append(context)
        page = await context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())
        pages.append(page)
    try:
        yield pages
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            (ROOT / "test-artifacts").mkdir(exist_ok=True)
            for name, page in zip(names, pages, strict=True):
                await page.screenshot(path=str(ROOT / "test-artifacts" / f"{prefix}-{name}.png"),
                                      full_page=True)
        for context in contexts:
            await context.close()
