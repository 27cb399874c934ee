"""Looking together in Chromium: two clinicians in a live teleconsult open the same CT series
from a real Orthanc; the follower's viewer follows the leader's slice, then the lead passes."""

from __future__ import annotations

import re
import statistics
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, Page, expect

from telemed.app import create_app
from telemed.imaging.samples import series
from telemed.settings import Settings, load_settings
from tests.browser.conftest import snapshot
from tests.conftest import World
from tests.helpers.browser import log_in, separate_pages
from tests.helpers.net import free_port
from tests.helpers.teleconsults import specialist
from tests.orthanc_fixture import TestPacs

pytestmark = pytest.mark.browser
SLICES = 8
FOLLOW_MS = 200  # the follower shows the leader's slice within this, on loopback

# Each page notes when its viewer's shown slice changes (the follower) or when a key is sent.
WATCH = """
(() => {
  window.__sliceAt = [];
  const watch = () => {
    const viewer = document.getElementById("viewer");
    if (!viewer) { setTimeout(watch, 50); return; }
    new MutationObserver(() => window.__sliceAt.push([viewer.dataset.slice, Date.now()]))
      .observe(viewer, { attributes: true, attributeFilter: ["data-slice"] });
  };
  watch();
})();
"""


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def app(settings: Settings, orthanc: TestPacs, port: int) -> web.Application:
    values: dict[str, Any] = settings.model_dump(
        include={"env", "data_dir", "database_url", "secret_key", "language"})
    return create_app(load_settings(**values, public_url=f"http://127.0.0.1:{port}",
                                    dicomweb_url=orthanc.dicomweb_url))


@pytest.fixture
async def client(aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
                 app: web.Application, port: int) -> TestClient[Any, Any]:
    return await aiohttp_client(app, server_kwargs={"port": port})


@pytest.fixture
async def two_pages(browser: Browser, base_url: str, request: pytest.FixtureRequest
                    ) -> AsyncIterator[tuple[Page, Page]]:
    async with separate_pages(browser, base_url, ("leader", "follower"), request,
                              prefix="teleconsult", height=1000, init_script=WATCH) as pages:
        yield pages[0], pages[1]


async def _live_consult(client: TestClient[Any, Any], world: World, pacs: TestPacs
                        ) -> tuple[dict[str, str], dict[str, str], str, str]:
    gp, cardio = await world.user("doctor"), await specialist(world)
    patient = await world.patient(team=[gp["id"]])
    ct = series(patient.fiscal_code, count=SLICES, description="Torace")
    pacs.upload(ct.files)
    h_gp, h_cardio = await world.token(gp["username"]), await world.token(cardio["username"])
    resp = await client.post("/api/v1/teleconsults", json={
        "patient_id": patient.id, "specialist_id": cardio["id"], "mode": "live",
        "question": "Versamento pleurico?"}, headers=h_gp)
    consult = (await resp.json())["id"]
    resp = await client.post(f"/api/v1/teleconsults/{consult}/attachments",
                             json={"study_instance_uid": ct.study_uid}, headers=h_gp)
    assert resp.status == 201, await resp.text()
    await client.post(f"/api/v1/teleconsults/{consult}/accept", json={}, headers=h_cardio)
    start = (datetime.now(UTC) + timedelta(minutes=2)).isoformat()
    resp = await client.post(f"/api/v1/teleconsults/{consult}/schedule",
                             json={"scheduled_start": start}, headers=h_cardio)
    assert resp.status == 200, await resp.text()
    return gp, cardio, (await resp.json())["visit_id"], ct.study_uid


async def _in_room(page: Page, username: str, visit_id: str) -> None:
    await log_in(page, username)
    await expect(page).not_to_have_url(re.compile(r"/login"))
    await page.goto(f"/visits/{visit_id}/room")
    await page.get_by_role("button", name="Open the room").click()
    await expect(page.locator("#call")).to_be_visible()


async def _follow_delays(leader: Page, follower: Page, steps: int) -> list[float]:
    """Press the down arrow `steps` times on the leader; the follower's delay for each."""
    delays = []
    for _ in range(steps):
        before = int(await leader.locator("#viewer").get_attribute("data-slice") or 0)
        await follower.evaluate("window.__sliceAt = []")
        sent = await leader.evaluate("Date.now()")
        await leader.locator("#viewer-stage").press("ArrowDown")
        want = str(before + 1)
        await expect(follower.locator("#viewer")).to_have_attribute("data-slice", want)
        seen = await follower.evaluate("window.__sliceAt")
        at = next(t for s, t in seen if s == want)
        delays.append(at - sent)
    return delays


async def test_the_follower_follows_the_leaders_slice(
        two_pages: tuple[Page, Page], world: World, client: TestClient[Any, Any],
        orthanc: TestPacs) -> None:
    first, second = two_pages
    gp, cardio, visit_id, study_uid = await _live_consult(client, world, orthanc)
    await _in_room(first, gp["username"], visit_id)
    await _in_room(second, cardio["username"], visit_id)
    # The GP opens the study first: it leads; the cardiologist's viewer opens the same series.
    item = first.locator(f'#attachments [data-study="{study_uid}"]')
    await item.get_by_role("button", name="Open").click()
    viewer_a, viewer_b = first.locator("#viewer"), second.locator("#viewer")
    await expect(viewer_a).to_have_attribute("data-loaded-slice", str(SLICES // 2))
    await expect(viewer_b).to_have_attribute("data-study", study_uid)
    await expect(viewer_b).to_have_attribute("data-slice", str(SLICES // 2))
    await expect(viewer_b).to_have_attribute("data-lead", "other")
    await expect(viewer_a).to_have_attribute("data-lead", "me")
    await expect(second.locator("#viewer-lead-text")).to_contain_text("Following")
    await expect(viewer_b.locator("#viewer-image")).to_have_attribute(
        "src", re.compile(r"/frames/1/rendered\?center=40&width=400"))
    # Window presets, zoom and the slice follow the leader.
    await first.locator('[data-preset="lung"]').click()
    await expect(second.locator("#viewer-image")).to_have_attribute(
        "src", re.compile(r"center=-600&width=1500"))
    await first.get_by_role("button", name="Zoom in").click()
    await expect(viewer_b).to_have_attribute("data-zoom", "1.25")
    delays = await _follow_delays(first, second, 3)
    print(f"follower delays (ms): {delays}")
    assert statistics.median(delays) < FOLLOW_MS, delays
    # The cardiologist takes the lead and scrolls back with the wheel; the GP follows.
    await second.get_by_role("button", name="Take the lead").click()
    await expect(viewer_b).to_have_attribute("data-lead", "me")
    await expect(viewer_a).to_have_attribute("data-lead", "other")
    await second.locator("#viewer-stage").hover()
    await second.mouse.wheel(0, -100)
    now = await viewer_b.get_attribute("data-slice")
    assert now == str(SLICES // 2 + 2)
    await expect(viewer_a).to_have_attribute("data-slice", now)
    # A follower's own scrolling does not move the leader.
    await first.locator("#viewer-stage").press("ArrowDown")
    await first.wait_for_timeout(300)
    await expect(viewer_b).to_have_attribute("data-slice", now)
    await snapshot(second, "teleconsult-room-desktop")
    # On a phone-sized screen the room and its viewer fit the width.
    await first.set_viewport_size({"width": 390, "height": 844})
    await first.locator("#viewer-stage").scroll_into_view_if_needed()
    await snapshot(first, "teleconsult-room-phone")
    assert await first.evaluate("document.documentElement.scrollWidth") <= 390
    box = await first.locator("#viewer-stage").bounding_box()
    assert box is not None and box["width"] <= 390 and box["height"] > 200
