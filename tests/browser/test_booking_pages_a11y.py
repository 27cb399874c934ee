"""axe-core on the pages of booking, the end of a visit and the devices (#12 items 4, 6, 7
and quality): the clinician's hours, booking, moving and cancelling a visit, the patient's
visits, the calm end screen, the devices list, a device page and its credentials sheet; on a
390-pixel phone and on a desktop window, in real Chromium against the app and Mosquitto."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, ViewportSize, expect
from sqlmodel import select

from telemed import keys
from telemed.db.models import CareTeamMember, Device, Document, Visit
from telemed.db.types import utcnow
from telemed.services.visits import move_visit
from tests.conftest import World
from tests.helpers.axe import assert_accessible
from tests.helpers.booking import open_clinic, patient_user, slots
from tests.helpers.browser import PHONE, log_in
from tests.helpers.documents import score_figures

pytestmark = [pytest.mark.browser, pytest.mark.broker]

SIZES: dict[str, ViewportSize] = {"phone": PHONE, "desktop": {"width": 1280, "height": 900}}

# The innermost elements that reach past the window's right edge (for the failure message).
WIDE = """() => {
  const edge = document.documentElement.clientWidth;
  const past = [...document.querySelectorAll("body *")].filter(
    (e) => e.getBoundingClientRect().right > edge + 1);
  return past.filter((e) => !past.some((o) => o !== e && e.contains(o))).slice(0, 5).map(
    (e) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
           (e.className ? "." + String(e.className).split(" ").join(".") : ""));
}"""


@pytest.fixture
def app(broker_app: web.Application) -> web.Application:
    """The real application with the test broker (device credentials need it)."""
    return broker_app


async def _open(browser: Browser, base_url: str, size: str, username: str) -> Page:
    phone = size == "phone"
    context = await browser.new_context(base_url=base_url, locale="en-GB",
                                        viewport=SIZES[size], is_mobile=phone, has_touch=phone)
    context.set_default_timeout(15_000)
    page = await context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    await log_in(page, username)
    return page


async def _check(page: Page, path: str, heading: str | None = None) -> None:
    response = await page.goto(path)
    assert response is not None and response.status == 200, (path, response)
    if heading is not None:
        await expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
    wide = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert wide <= 1, f"{path} scrolls sideways by {wide}px: " + str(await page.evaluate(WIDE))
    await assert_accessible(page)


@pytest.mark.parametrize("size", list(SIZES))
async def test_booking_visit_and_device_pages_have_no_axe_violation(
    browser: Browser, base_url: str, world: World, size: str,
) -> None:
    clinic = await open_clinic(world)
    patient = await patient_user(world, clinic)
    nurse = await world.user("nurse")
    h = clinic.headers[patient["username"]]
    free = await slots(world.client, clinic, h)
    booked = []
    for slot in free[:2]:
        resp = await world.client.post("/api/v1/visits", headers=h, json={
            "slot_id": slot["id"], "reason": "Controllo della pressione"})
        assert resp.status == 201, await resp.text()
        booked.append((await resp.json())["id"])
    async with world.app[keys.SESSIONS]() as session:  # the second one took place
        visit = await session.get(Visit, booked[1])
        assert visit is not None
        # yesterday: a visit is held only once joined, from 15 minutes before its start
        await move_visit(session, visit, utcnow() - timedelta(days=1), visit.duration_minutes)
        visit.status = "completed"
        report = Document(patient_id=patient["patient_id"], kind="monitoring_final_report",
                          title="Relazione Finale di Telemonitoraggio",
                          author_id=clinic.doctor["id"], figures=score_figures())
        session.add(report)
        await session.commit()

    doctor_page = await _open(browser, base_url, size, clinic.doctor["username"])
    await _check(doctor_page, "/availability")
    await _check(doctor_page, "/visits")  # the held visit is among the reports to write
    await expect(doctor_page.locator(f'[data-reports-due] a[href="/visits/{booked[1]}/report"]')
                 ).to_be_visible()
    await _check(doctor_page, f"/patients/{patient['patient_id']}")
    await expect(doctor_page.locator("[data-past-visits]")).to_contain_text("Write the report")
    await _check(doctor_page, f"/documents/{report.id}")  # the scores table scrolls in its card
    await doctor_page.context.close()

    page = await _open(browser, base_url, size, patient["username"])
    await _check(page, "/visits")
    await expect(page.locator("main")).to_contain_text("Controllo della pressione")
    await _check(page, "/visits/book")
    await _check(page, f"/visits/{booked[0]}/move")
    await _check(page, f"/visits/{booked[0]}/cancel")
    await _check(page, f"/visits/{booked[1]}/check-in")
    await expect(page.locator("#call-over")).to_be_visible()
    await page.context.close()

    staff = await _open(browser, base_url, size, nurse["username"])
    async with world.app[keys.SESSIONS]() as session:
        session.add(CareTeamMember(patient_id=patient["patient_id"], user_id=nurse["id"]))
        await session.commit()
    await _check(staff, f"/devices?patient={patient['patient_id']}")
    await staff.get_by_label("Serial").fill(f"OX-{size}")
    await staff.locator("main form").first.get_by_role("button").last.click()
    await expect(staff.locator("code[data-password]")).to_be_visible()
    await assert_accessible(staff)  # the credentials sheet, shown once
    async with world.app[keys.SESSIONS]() as session:
        device = (await session.exec(select(Device).where(Device.serial == f"OX-{size}"))).one()
    await _check(staff, f"/devices/{device.id}")
    await staff.context.close()
