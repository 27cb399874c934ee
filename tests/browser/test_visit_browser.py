"""A televisit in two Chromium contexts: the patient checks in, the doctor admits, media flows."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, Page, expect

from telemed.settings import Settings, load_settings
from tests.browser.conftest import snapshot
from tests.conftest import PASSWORD, World
from tests.helpers.browser import log_in, separate_pages
from tests.helpers.net import free_port
from tests.integration.visit_helpers import VisitSetup, make_visit
from tests.turn_fixture import SECRET, TurnServer

pytestmark = pytest.mark.browser


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def settings(settings: Settings, port: int, request: pytest.FixtureRequest) -> Settings:
    """The shared test settings, with PUBLIC_URL being the real server (Origin checks).

    Tests marked `relay` get media through the `coturn` fixture only.
    """
    values: dict[str, Any] = settings.model_dump(
        include={"env", "data_dir", "database_url", "secret_key", "language"})
    if request.node.get_closest_marker("relay") is not None:
        turn: TurnServer = request.getfixturevalue("coturn")
        values.update(turn_urls=turn.url, turn_secret=SECRET, ice_transport_policy="relay")
    # booking_cutoff_hours=0: a slot a few minutes ahead can be booked, then joined
    return load_settings(**values, public_url=f"http://127.0.0.1:{port}",
                         booking_cutoff_hours=0)


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    app: web.Application, port: int,
) -> TestClient[Any, Any]:
    return await aiohttp_client(app, server_kwargs={"port": port})


@pytest.fixture
async def two_pages(browser: Browser, base_url: str,
                    request: pytest.FixtureRequest) -> AsyncIterator[tuple[Page, Page]]:
    async with separate_pages(browser, base_url, ("doctor", "patient"), request,
                              prefix="visit") as pages:
        yield pages[0], pages[1]


async def _log_in(page: Page, username: str) -> None:
    """Log in and wait until the login page is left."""
    await log_in(page, username)
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


# Remembers every WebSocket the page opens and the `welcome` frames it receives, so the test
# can close the signalling socket from the page and compare peer ids across a resume.
TRACK_SOCKETS = """
(() => {
  const Native = window.WebSocket;
  window.__sockets = [];
  window.__welcomes = [];
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      window.__sockets.push(this);
      this.addEventListener("message", (event) => {
        try {
          const message = JSON.parse(event.data);
          if (message.type === "welcome") window.__welcomes.push(message);
        } catch {}
      });
    }
  };
})();
"""


async def _frames(page: Page) -> int:
    value = await page.locator("#grid .tile[data-peer-id]").get_attribute("data-frames-decoded")
    return int(value or 0)


async def _frames_grow(page: Page, since: int) -> None:
    await page.wait_for_function(
        "since => Number(document.querySelector('#grid .tile[data-peer-id]')"
        "?.dataset.framesDecoded || 0) > since", arg=since, timeout=20_000)


async def _welcomes(page: Page) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await page.evaluate("window.__welcomes")
    return found


async def _resumed(page: Page, count: int) -> dict[str, Any]:
    """The `count`-th welcome of the page, once it arrived (within 30 s)."""
    await page.wait_for_function("n => window.__welcomes.length >= n", arg=count,
                                 timeout=30_000)
    return (await _welcomes(page))[count - 1]


async def _in_a_call(doctor_page: Page, patient_page: Page, setup: VisitSetup) -> None:
    """The patient checks in and waits; the doctor opens the room and admits; media flows."""
    await _log_in(patient_page, setup.patient_user["username"])
    await patient_page.goto(f"/visits/{setup.visit_id}/check-in")
    await patient_page.get_by_role("button", name="Start camera and microphone").click()
    await expect(patient_page.locator("#devices-status")).to_contain_text("working")
    await patient_page.get_by_role("button", name="Enter the waiting room").click()
    await expect(patient_page.locator("#visit")).to_have_attribute("data-state", "waiting")
    await _log_in(doctor_page, setup.doctor["username"])
    await doctor_page.goto(f"/visits/{setup.visit_id}/room")
    await doctor_page.get_by_role("button", name="Open the room").click()
    await doctor_page.locator("#knocks li").get_by_role("button", name="Admit").click()
    for page in (doctor_page, patient_page):
        await _media_flowing(page)


async def test_patient_rides_out_a_network_drop(
    two_pages: tuple[Page, Page], world: World
) -> None:
    doctor_page, patient_page = two_pages
    setup = await make_visit(world)
    await patient_page.context.add_init_script(TRACK_SOCKETS)

    await _in_a_call(doctor_page, patient_page, setup)
    first = (await _welcomes(patient_page))[0]
    patient_peer = first["peer_id"]
    doctor_tile = doctor_page.locator("#grid .tile[data-peer-id]")
    await expect(doctor_tile).to_have_attribute("data-peer-id", patient_peer)

    # 1. The patient's network goes away for about 3 s.
    await patient_page.context.set_offline(True)
    status = patient_page.locator("#call-status")
    await expect(status).to_contain_text("Trying again", timeout=5_000)
    await expect(patient_page.locator("#call")).to_have_attribute("data-signalling",
                                                                  "reconnecting")
    await patient_page.get_by_label("Message").fill("Sent while offline")
    await patient_page.get_by_role("button", name="Send").click()
    await doctor_page.get_by_label("Message").fill("Can you hear me?")
    await doctor_page.get_by_role("button", name="Send").click()
    await asyncio.sleep(3)
    await expect(status).to_contain_text("Trying again")
    await patient_page.context.set_offline(False)

    welcome = await _resumed(patient_page, 2)
    assert welcome["resumed"] is True and welcome["peer_id"] == patient_peer
    await expect(patient_page.locator("#call")).to_have_attribute("data-signalling",
                                                                  "connected")
    await expect(status).not_to_contain_text("Trying again")
    await expect(doctor_page.locator("#chat-lines")).to_contain_text("Sent while offline")
    await expect(patient_page.locator("#chat-lines")).to_contain_text("Can you hear me?")
    await expect(patient_page.locator("#chat-lines")).to_contain_text("Sent while offline")
    for page in (doctor_page, patient_page):
        tile = page.locator("#grid .tile[data-peer-id]")
        await expect(tile).to_have_count(1)
        await expect(tile).to_have_attribute("data-connection-state", "connected",
                                             timeout=30_000)
        await _frames_grow(page, await _frames(page))
    await expect(doctor_tile).to_have_attribute("data-peer-id", patient_peer)

    # 2. The signalling socket alone drops (a proxy cut it): resumed again, same peer.
    await patient_page.evaluate("window.__sockets.at(-1).close(3000, 'cut')")
    welcome = await _resumed(patient_page, 3)
    assert welcome["resumed"] is True and welcome["peer_id"] == patient_peer
    await patient_page.get_by_label("Message").fill("Back again")
    await patient_page.get_by_role("button", name="Send").click()
    await expect(doctor_page.locator("#chat-lines")).to_contain_text("Back again")
    for page in (doctor_page, patient_page):
        await _frames_grow(page, await _frames(page))
    # Each chat line shows once, however it came (live, replayed, queued).
    assert await doctor_page.locator("#chat-lines li", has_text="Sent while offline").count() == 1
    assert await patient_page.locator("#chat-lines li", has_text="Can you hear me?").count() == 1


async def test_guest_is_admitted_then_removed(two_pages: tuple[Page, Page], world: World) -> None:
    doctor_page, guest_page = two_pages
    setup = await make_visit(world)
    headers = setup.headers[setup.doctor["username"]]
    resp = await world.client.post(f"/api/v1/visits/{setup.visit_id}/guests", headers=headers,
                                   json={"name": "Interprete Bianchi"})
    assert resp.status == 201, await resp.text()
    guest = await resp.json()
    link = urlsplit(guest["link"])

    await guest_page.goto(f"{link.path}?{link.query}")
    await expect(guest_page).to_have_url(re.compile(r"/guest$"))
    await expect(guest_page.locator("#visit")).to_have_attribute("data-role", "guest")
    await guest_page.get_by_role("button", name="Start camera and microphone").click()
    await guest_page.get_by_role("button", name="Enter the waiting room").click()
    await expect(guest_page.locator("#visit")).to_have_attribute("data-state", "waiting")

    await _log_in(doctor_page, setup.doctor["username"])
    await doctor_page.goto(f"/visits/{setup.visit_id}/room")
    await doctor_page.get_by_role("button", name="Open the room").click()
    knock = doctor_page.locator("#knocks li")
    await expect(knock).to_contain_text("Interprete Bianchi")
    await knock.get_by_role("button", name="Admit").click()
    await _media_flowing(doctor_page)
    await _media_flowing(guest_page)

    resp = await world.client.delete(
        f"/api/v1/visits/{setup.visit_id}/guests/{guest['id']}", headers=headers)
    assert resp.status == 200
    await expect(guest_page.locator("#visit")).to_have_attribute("data-state", "removed")
    await expect(doctor_page.locator("#grid .tile[data-peer-id]")).to_have_count(0)


async def test_doctor_invites_a_guest_from_the_page(two_pages: tuple[Page, Page],
                                                    world: World) -> None:
    """From the room, a new tab: invite, copy the one-time link; the guest opens it."""
    doctor_page, guest_page = two_pages
    setup = await make_visit(world)
    await doctor_page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await _log_in(doctor_page, setup.doctor["username"])
    await doctor_page.goto(f"/visits/{setup.visit_id}/room")
    await doctor_page.get_by_role("button", name="Open the room").click()

    async with doctor_page.context.expect_page() as opened:
        await doctor_page.get_by_role("link", name="Invite a guest").click()
    guests = await opened.value
    guests.on("dialog", lambda dialog: dialog.accept())
    await expect(guests).to_have_url(re.compile(rf"/visits/{setup.visit_id}/guests$"))
    await guests.get_by_label("Guest's name").fill("Interprete Bianchi")
    await guests.get_by_role("button", name="Invite and create the link").click()
    await expect(guests.locator(".notice")).to_contain_text(
        "Invitation created for Interprete Bianchi")
    await expect(guests.locator("#guest-link-hint")).to_contain_text("It works once")
    await guests.get_by_role("button", name="Copy the link").click()
    await expect(guests.locator("#copy-status")).to_have_text("Link copied.")
    link = await guests.evaluate("navigator.clipboard.readText()")
    assert link == await guests.locator("#guest-link").input_value()
    assert link.startswith(f"{world.client.make_url('/')}".rstrip("/") + "/visits/")
    row = guests.locator("tbody tr", has_text="Interprete Bianchi")
    await expect(row).to_contain_text("Not used yet")
    await snapshot(guests, "visit-guests")

    # The guest opens the link: the guest's check-in page, then the waiting room.
    await guest_page.goto(link)
    await expect(guest_page).to_have_url(re.compile(r"/guest$"))
    await expect(guest_page.locator("#visit")).to_have_attribute("data-role", "guest")
    await expect(guest_page.get_by_text("You are invited as a guest: Interprete Bianchi."))\
        .to_be_visible()
    await guest_page.get_by_role("button", name="Start camera and microphone").click()
    await guest_page.get_by_role("button", name="Enter the waiting room").click()
    # The room in the first tab kept running and sees the guest knock.
    await expect(doctor_page.locator("#knocks li")).to_contain_text("Interprete Bianchi")
    await snapshot(doctor_page, "visit-room-guest-knocks")

    # Shown once: after a reload the link is gone; the guest used it.
    await guests.reload()
    await expect(guests.locator("#guest-link")).to_have_count(0)
    await expect(row).to_contain_text("Link used")
    await row.get_by_role("button", name="Revoke").click()
    await expect(guests.locator(".notice")).to_contain_text(
        "The invitation of Interprete Bianchi was revoked.")
    await expect(row).to_contain_text("Revoked")
    await expect(guest_page.locator("#visit")).to_have_attribute("data-state", "removed")


@pytest.mark.relay
async def test_media_through_turn_comes_back_after_a_turn_outage(
    two_pages: tuple[Page, Page], world: World, coturn: TurnServer
) -> None:
    """Relay-only media; the TURN server is killed and restarted: ICE restarts, frames flow."""
    doctor_page, patient_page = two_pages
    setup = await make_visit(world)
    await doctor_page.context.add_init_script(TRACK_PEERS)
    await _in_a_call(doctor_page, patient_page, setup)
    # Only relay candidates were used: the browsers never exchanged their own addresses.
    pair = await doctor_page.evaluate(RELAY_PAIR)
    assert pair == ["relay", "relay"], pair

    await coturn.stop()  # the relays are gone: media stops
    tile = doctor_page.locator("#grid .tile[data-peer-id]")
    await expect(tile).not_to_have_attribute("data-connection-state", "connected",
                                             timeout=30_000)
    await coturn.start()  # same port, new process: fresh allocations are needed
    for page in (doctor_page, patient_page):
        await expect(page.locator("#grid .tile[data-peer-id]")).to_have_attribute(
            "data-connection-state", "connected", timeout=40_000)
        await _frames_grow(page, await _frames(page))
    assert await doctor_page.evaluate(RELAY_PAIR) == ["relay", "relay"]


# Keep every RTCPeerConnection the page makes (the test reads their stats).
TRACK_PEERS = """
(() => {
  const Native = window.RTCPeerConnection;
  window.__peerConnections = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      window.__peerConnections.push(this);
    }
  };
})();
"""

# The local and remote candidate types of the doctor's selected ICE pair.
RELAY_PAIR = """async () => {
  const pc = window.__peerConnections.at(-1);
  const stats = await pc.getStats();
  for (const report of stats.values()) {
    if (report.type === "candidate-pair" && report.nominated && report.state === "succeeded") {
      return [stats.get(report.localCandidateId).candidateType,
              stats.get(report.remoteCandidateId).candidateType];
    }
  }
  return null;
}"""


async def _hours_starting_soon(world: World, doctor: dict[str, str]) -> None:
    """The doctor publishes one 20-minute televisit slot starting in 5 to 10 minutes."""
    zone = ZoneInfo("Europe/Rome")
    start = (datetime.now(zone) + timedelta(minutes=10)).replace(second=0, microsecond=0)
    start -= timedelta(minutes=start.minute % 5)
    if start.date() != datetime.now(zone).date() or (start.hour == 23 and start.minute > 35):
        pytest.skip("too close to midnight in Rome for a same-day slot")
    resp = await world.client.post("/api/v1/availability",
                                   headers=await world.token(doctor["username"]),
                                   json={"weekday": start.weekday(),
                                         "start": start.strftime("%H:%M"),
                                         "end": (start + timedelta(minutes=20)).strftime("%H:%M"),
                                         "slot_minutes": 20})
    assert resp.status == 201, await resp.text()


SELF_VIEW_LIVE = """
() => {
  const video = document.getElementById("self-video");
  const stream = video.srcObject;
  return Boolean(stream) && stream.getVideoTracks().some((t) => t.readyState === "live")
    && video.videoWidth > 0;
}
"""
MEDIA_STOPPED = """
() => {
  const stream = document.getElementById("preview").srcObject;
  return Boolean(stream) && stream.getTracks().every((t) => t.readyState === "ended");
}
"""


async def test_patient_books_joins_and_ends_a_visit_on_a_phone(
    browser: Browser, two_pages: tuple[Page, Page], world: World
) -> None:
    """On a 390×844 phone: book a slot, check in, be admitted (the doctor's picture on top,
    the self-view small and live), and after the doctor ends, a calm end screen that offers
    the report once it is signed."""
    doctor_page, _desktop = two_pages
    doctor = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    patient_user = await world.user("patient", patient_id=patient.id)
    await _hours_starting_soon(world, doctor)

    base = str(world.client.make_url("/")).rstrip("/")
    phone = await browser.new_context(base_url=base, locale="en-GB",
                                      viewport={"width": 390, "height": 844},
                                      is_mobile=True, has_touch=True)
    phone.set_default_timeout(15_000)
    page = await phone.new_page()
    try:
        await page.goto("/login")
        await page.get_by_label("Username").fill(patient_user["username"])
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await page.goto("/visits")
        await page.get_by_role("link", name="Book a visit").click()
        await page.locator(".slot-choice").first.click()
        await page.get_by_label("Reason for the visit").fill("Affanno salendo le scale")
        await page.get_by_role("button", name="Book the visit").click()
        await expect(page.locator("[data-upcoming]")).to_contain_text("Affanno")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390
        await page.locator("[data-upcoming]").get_by_role(
            "link", name="Go to the check-in").click()
        await page.wait_for_url(re.compile(r"/check-in$"))
        await page.wait_for_load_state("load")  # the page's module script listens by then
        await page.get_by_role("button", name="Start camera and microphone").click()
        await expect(page.locator("#devices-status")).to_contain_text("working",
                                                                     timeout=20_000)
        await page.get_by_role("button", name="Enter the waiting room").click()
        await expect(page.locator("#visit")).to_have_attribute("data-state", "waiting",
                                                               timeout=20_000)
        visit_id = await page.locator("#visit").get_attribute("data-visit-id")

        await _log_in(doctor_page, doctor["username"])
        await doctor_page.goto(f"/visits/{visit_id}/room")
        await doctor_page.get_by_role("button", name="Open the room").click()
        await doctor_page.locator("#knocks li").get_by_role("button", name="Admit").click()
        await expect(page.locator("#visit")).to_have_attribute("data-state", "admitted",
                                                               timeout=20_000)
        await _media_flowing(page)
        await page.wait_for_function(SELF_VIEW_LIVE)
        remote = await page.locator("#grid .tile[data-peer-id]").bounding_box()
        own = await page.locator("#tile-self").bounding_box()
        assert remote is not None and own is not None
        assert remote["y"] <= own["y"] and remote["width"] > 340, (remote, own)
        assert own["width"] < remote["width"] / 2, (remote, own)
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390
        await snapshot(page, "visit-phone-call")

        await doctor_page.get_by_role("button", name="End the visit").click()
        await expect(page.locator("#visit")).to_have_attribute("data-state", "ended",
                                                               timeout=20_000)
        over = page.locator("#call-over")
        await expect(over).to_be_visible()
        await expect(over).to_contain_text("The visit is over")
        await expect(page.locator("#call")).to_be_hidden()
        await expect(page.get_by_role("button", name="Leave the visit")).to_be_hidden()
        await page.wait_for_function(MEDIA_STOPPED)
        await expect(page.locator("#report-pending")).to_be_visible()
        await expect(over.get_by_role("link", name="Back to my record")).to_have_attribute(
            "href", "/my-record")
        await snapshot(page, "visit-phone-over")

        await doctor_page.goto(f"/visits/{visit_id}/report")
        # the referto: a draft with its sections, then signed with the password again
        await doctor_page.get_by_label("Findings").fill("Visita regolare. Nessuna variazione.")
        await doctor_page.get_by_role("button", name="Save the draft").click()
        await doctor_page.get_by_label("Your password").fill(PASSWORD)
        await doctor_page.get_by_role("button", name="Sign the document").click()
        await expect(over.get_by_role("link", name="Read the visit report")).to_be_visible(
            timeout=15_000)
        # Reloaded (or without JavaScript), the page is the same calm end screen.
        await page.reload()
        await expect(page.locator("#call-over")).to_be_visible()
        await expect(page.get_by_role("link", name="Read the visit report")).to_be_visible()
    finally:
        await phone.close()
