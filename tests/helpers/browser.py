"""Driving the pages in Chromium (playwright)."""

from __future__ import annotations

from playwright.async_api import Page

from tests.conftest import PASSWORD


async def log_in(page: Page, username: str) -> None:
    await page.goto("/login")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
