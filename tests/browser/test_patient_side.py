"""The patient's side on a phone (390 × 844) in real Chromium (#12 items 1–3 and quality):
what is due today, a manual weight that trips the trend alert the nurse sees live on her
board, the heart-failure diary; every page free of axe violations, usable with the
keyboard alone, readable at 200 % zoom, with large touch targets, in Italian and English."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import snapshot
from tests.conftest import PASSWORD, World
from tests.helpers.axe import assert_accessible, violations
from tests.helpers.browser import log_in, phone
from tests.helpers.plans import DIARY_PLAN as PLAN
from tests.helpers.ward import Ward
from tests.integration.monitoring import add_plan, alerts_of, now_s

pytestmark = pytest.mark.browser

MIN_TARGET = 44  # CSS pixels (WCAG 2.5.5)


@pytest.fixture
async def ward(world: World) -> Ward:
    ward = await Ward(world).build()
    await add_plan(world.app, ward.patient.id, ward.doctor["id"], PLAN)
    return ward


async def no_horizontal_scroll(page: Page) -> None:
    wide = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert wide <= 1, f"the page scrolls sideways by {wide}px"


async def targets_are_large(page: Page, selector: str) -> None:
    for box in [await e.bounding_box() for e in await page.locator(selector).all()]:
        assert box is not None and box["height"] >= MIN_TARGET, (selector, box)


async def test_patient_enters_a_weight_on_a_phone_and_the_nurse_sees_the_alert_live(
    browser: Browser, base_url: str, page: Page, ward: Ward, client: TestClient[Any, Any],
) -> None:
    await ward.send(("body_weight", 80.0, "kg", now_s() - 48 * 3600))
    # the nurse's board is open on her desk
    await log_in(page, ward.nurse["username"])
    await page.goto("/alerts")
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    await expect(page.locator(".alert-card")).to_have_count(0)

    mobile = await phone(browser, base_url)
    await log_in(mobile, ward.patient_user["username"])
    await expect(mobile).to_have_url(f"{base_url}/my-record")
    today = mobile.locator("#today")
    await expect(today.locator('[data-due="body_weight"]')).to_be_visible()
    await expect(today.locator('[data-questionnaire-due="hf_diary"]')).to_be_visible()
    await no_horizontal_scroll(mobile)
    await assert_accessible(mobile)
    await snapshot(mobile, "patient-my-record-phone")

    # keyboard only: from the "Enter a reading" button to a saved weight
    await today.get_by_role("link", name="Enter a reading").focus()
    await mobile.keyboard.press("Enter")
    await expect(mobile.get_by_role("heading", level=1)).to_have_text("Enter a reading")
    await assert_accessible(mobile)
    await snapshot(mobile, "patient-readings-phone")
    await targets_are_large(mobile, "#form-body_weight input[type=text], "
                            "#form-body_weight .choice-list label, #form-body_weight button")
    weight = mobile.locator("#body_weight-body_weight")
    await weight.focus()
    await mobile.keyboard.type("82,3")
    await mobile.keyboard.press("Tab")  # the first unit (kg) is chosen already
    await expect(mobile.locator('#form-body_weight input[value="kg"]')).to_be_checked()
    await mobile.keyboard.press("Enter")
    await expect(mobile).to_have_url(f"{base_url}/my-record#today")
    await expect(mobile.locator(".notice")).to_contain_text("Saved: Weight")
    await expect(mobile.locator("main")).to_contain_text(
        "Your weight is 2.3 kg up this week. Your care team has been told.")
    await assert_accessible(mobile)
    await snapshot(mobile, "patient-my-record-after-phone")

    # the board reacts without a reload
    [alert] = await alerts_of(ward.world.app, ward.patient.id)
    assert alert.kind == "trend"
    await expect(page.locator(f"#alert-{alert.id}")).to_be_visible()
    await mobile.context.close()


async def test_the_check_finds_what_axe_finds(page: Page) -> None:
    await page.set_content('<html lang="en"><head><title>t</title></head><body><main>'
                           '<h1>t</h1><img src="data:,"><input id="x"></main></body></html>')
    found = {v["id"] for v in await violations(page)}
    assert {"image-alt", "label"} <= found


async def test_patient_answers_the_heart_failure_diary_on_a_phone(
    browser: Browser, base_url: str, ward: Ward,
) -> None:
    mobile = await phone(browser, base_url)
    await log_in(mobile, ward.patient_user["username"])
    await mobile.locator('[data-questionnaire-due="hf_diary"] a').click()
    await expect(mobile.get_by_role("heading", level=1)).to_have_text("Heart failure diary")
    await assert_accessible(mobile)
    await snapshot(mobile, "patient-diary-phone")
    await targets_are_large(mobile, "main .choice-list label, main button[type=submit]")
    # sending with no answer says which questions are missing, then answer by tapping
    await mobile.get_by_role("button", name="Send my answers").click()
    await expect(mobile.locator(".error-summary")).to_contain_text("Breathlessness")
    await assert_accessible(mobile)
    for label in ("More than usual when I move", "As usual"):  # a change of mind
        await mobile.get_by_role("group", name="1. Breathlessness").get_by_label(
            label, exact=True).check()
    await mobile.get_by_role("group", name="2. Breathing when lying down").get_by_label(
        "As usual", exact=True).check()
    await mobile.get_by_role("group", name="3. Swollen ankles or legs").get_by_label(
        "No", exact=True).check()
    await mobile.get_by_role("group", name="4. Tiredness").get_by_label(
        "More tired than usual", exact=True).check()
    await mobile.get_by_role("button", name="Send my answers").click()
    await expect(mobile.locator(".notice")).to_contain_text("your answers reached")
    await expect(mobile.locator('[data-questionnaire-due="hf_diary"]')).to_have_count(0)
    await mobile.goto("/my-record/questionnaires")
    await expect(mobile.locator("main")).to_contain_text("Nothing to do today")
    await assert_accessible(mobile)
    await mobile.context.close()


async def test_the_patient_pages_in_italian_at_200_percent_zoom(
    browser: Browser, base_url: str, ward: Ward,
) -> None:
    # 200 % zoom of a 1280-pixel window: a 640-pixel-wide layout at twice the size
    context = await browser.new_context(base_url=base_url, locale="it-IT",
                                        viewport={"width": 640, "height": 450},
                                        device_scale_factor=2)
    zoomed = await context.new_page()
    await zoomed.goto("/login")
    await zoomed.get_by_label("Nome utente").fill(ward.patient_user["username"])
    await zoomed.get_by_label("Password").fill(PASSWORD)
    await zoomed.get_by_role("button", name="Accedi").click()
    for path, heading in (("/my-record", None), ("/my-record/readings",
                                                 "Inserisci una misurazione"),
                          ("/my-record/questionnaires", "Questionari"),
                          ("/my-record/questionnaires/hf_diary",
                           "Diario dello scompenso cardiaco")):
        await zoomed.goto(path)
        if heading:
            await expect(zoomed.get_by_role("heading", level=1)).to_have_text(heading)
        await expect(zoomed.locator("html")).to_have_attribute("lang", "it")
        await no_horizontal_scroll(zoomed)
        await assert_accessible(zoomed)
    await context.close()
