"""Browser tests: Debian's Chromium driven by Playwright against the real app on a free port.

Chromium is never downloaded (`playwright install` is not used): the fixture launches the
system binary. Without it the tests are skipped on a developer's machine and fail under CI.
A failing test leaves a screenshot in test-artifacts/.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator, Generator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, Page, async_playwright

from tests.conftest import service_missing

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]

def chromium_path() -> str | None:
    """Debian's Chromium, if installed."""
    found = shutil.which("chromium")
    if found:
        return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[Any]:
    """Keep each phase's report on the test item, so fixtures know whether the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    path = chromium_path()
    if path is None:
        service_missing("Chromium (apt-get install chromium)")
        return
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def base_url(client: TestClient[Any, Any]) -> str:
    """Where the app under test listens (the client fixture's real HTTP server)."""
    return str(client.make_url("/")).rstrip("/")


@pytest.fixture
async def page(browser: Browser, base_url: str, request: pytest.FixtureRequest
               ) -> AsyncIterator[Page]:
    """A fresh browser context (own cookies) and page; a screenshot when the test fails."""
    context = await browser.new_context(base_url=base_url, locale="en-GB",
                                        viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    opened = await context.new_page()
    opened.on("dialog", lambda dialog: dialog.accept())
    try:
        yield opened
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            ARTIFACTS.mkdir(exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
            await opened.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        await context.close()


async def snapshot(page: Page, name: str) -> None:
    """Save a full-page screenshot when TEST_SCREENSHOTS=1 (for looking at the pages)."""
    if os.environ.get("TEST_SCREENSHOTS") == "1":
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
