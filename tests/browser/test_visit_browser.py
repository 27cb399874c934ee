"""A televisit in two Chromium contexts: the patient checks in, the doctor admits, media flows."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, Page, expect

from telemed.settings import Settings, load_settings
from tests.browser.conftest import ARTIFACTS, snapshot
from tests.conftest import PASSWORD, World
from tests.integration.visit_helpers import make_visit

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def port() -> int:
    return _free_port()


@pytest.fixture
def settings(settings: Settings, port: int) -> Settings:
    """The shared test settings, with PUBLIC_URL being the real server (Origin checks)."""
    values = settings.model_dump(include={"env", "data_dir", "database_url", "secret_key",
                                          "language"})
    return load_settings(**values, public_url=f"http://127.0.0.1:{port}")


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    app: web.Application, port: int,
) -> TestClient[Any, Any]:
    return await aiohttp_client(app, server_kwargs={"port": port})


@pytest.fixture
async def two_pages(browser: Browser, base_url: str,
                    request: pytest.FixtureRequest) -> AsyncIterator[tuple[Page, Page]]:
    pages = []
    contexts = []
    for _ in range(2):
        context = await browser.new_context(base_url=base_url, locale="en-GB",
                                            viewport={"width": 1200, "height": 900})
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = await context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())
        pages.append(page)
    try:
        yield pages[0], pages[1]
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            ARTIFACTS.mkdir(exist_ok=True)
            for name, page in zip(("doctor", "patient"), pages, strict=True):
                await page.screenshot(path=str(Path(ARTIFACTS) / f"visit-{name}.png"),
                                      full_page=True)
        for context in contexts:
            await context.close()


async def _log_in(page: Page, username: str) -> None:
    await page.goto("/login")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).not_to_have_url(re.compile(r"/login"))


async def _media_flowing(page: Page) -> None:
    tile = page.locator("#grid .tile[data-peer-id]")
    await expect(tile).to_have_count(1)
    await expect(tile).to_have_attribute("data-connection-state", "connected", timeout=20_000)
    await expect(tile).to_have_attribute("data-frames-decoded", re.compile(r"^[1-9]\d*$"),
                                         timeout=20_000)


async def test_doctor_and_patient_hold_a_televisit(
    two_pages: tuple[Page, Page], world: World
) -> None:
    doctor_page, patient_page = two_pages
    setup = await make_visit(world)

    await _log_in(patient_page, setup.patient_user["username"])
    await patient_page.goto(f"/visits/{setup.visit_id}/check-in")
    await patient_page.get_by_role("button", name="Start camera and microphone").click()
    await expect(patient_page.locator("#devices-status")).to_contain_text("working")
    await patient_page.get_by_role("button", name="Test my connection").click()
    # On loopback the verdict is good, or fair when the machine is busy.
    await expect(patient_page.locator("#test-status")).to_contain_text(
        re.compile(r"Your connection is (good|fair)"), timeout=20_000)
    await expect(patient_page.locator("#test-rtt")).to_contain_text("ms")
    await patient_page.get_by_role("button", name="Enter the waiting room").click()
    await expect(patient_page.locator("#visit")).to_have_attribute("data-state", "waiting")
    await snapshot(patient_page, "visit-waiting")

    await _log_in(doctor_page, setup.doctor["username"])
    await doctor_page.goto(f"/visits/{setup.visit_id}/room")
    await doctor_page.get_by_role("button", name="Open the room").click()
    knock = doctor_page.locator("#knocks li")
    await expect(knock).to_contain_text(re.compile(r"connection (good|fair), \d+ ms"))
    await knock.get_by_role("button", name="Admit").click()

    await expect(patient_page.locator("#visit")).to_have_attribute("data-state", "admitted")
    await _media_flowing(doctor_page)
    await _media_flowing(patient_page)

    await patient_page.get_by_label("Message").fill("Buongiorno dottore")
    await patient_page.get_by_role("button", name="Send").click()
    await expect(doctor_page.locator("#chat-lines")).to_contain_text("Buongiorno dottore")
    await snapshot(doctor_page, "visit-room")

    await doctor_page.get_by_role("button", name="End the visit").click()
    await expect(patient_page.locator("#visit")).to_have_attribute("data-state", "ended")
    await expect(doctor_page.locator("#after-call")).to_be_visible()
