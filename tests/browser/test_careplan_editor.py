"""A doctor writes, activates and revises a care plan in real Chromium."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from telemed import keys
from tests.browser.conftest import snapshot
from tests.conftest import World
from tests.helpers.browser import log_in

pytestmark = pytest.mark.browser


async def stored_versions(world: World, patient_id: str) -> list[tuple[int, str]]:
    from sqlmodel import select

    from telemed.db.models import CarePlan

    async with world.app[keys.SESSIONS]() as session:
        result = await session.exec(select(CarePlan).where(CarePlan.patient_id == patient_id))
        return sorted((plan.version, plan.status) for plan in result.all())


async def test_doctor_creates_activates_and_revises_a_care_plan(
    page: Page, world: World
) -> None:
    doctor = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])

    await page.goto("/login")
    await snapshot(page, "login")
    await log_in(page, doctor["username"])
    await expect(page).to_have_url(re.compile(r"/patients$"))
    await snapshot(page, "patients")

    await page.get_by_role("link", name=f"{patient.family_name} {patient.given_name}").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(patient.family_name)
    await page.get_by_role("link", name="New care plan").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("New care plan")

    await page.get_by_label("Title").fill("Hypertension – home monitoring")
    await page.get_by_label("Goals").fill("Blood pressure below 140/90\nNo dizziness")
    systolic = page.locator("#m-bp_systolic")
    details = systolic.locator("[data-details]")
    await expect(details).to_be_hidden()  # the module shows only ticked measurements
    await systolic.get_by_label("Monitor this measurement").check()
    await expect(details).to_be_visible()
    await systolic.get_by_label("Times (24-hour clock)").fill("08:00, 20:00")
    await systolic.get_by_label("Warning low").fill("160")
    await systolic.get_by_label("Warning high").fill("140")
    await systolic.get_by_label("Critical high").fill("180")
    await page.get_by_role("button", name="Save as draft").click()

    summary = page.locator("[data-error-summary]")
    await expect(summary).to_be_visible()
    await expect(summary).to_be_focused()
    error = page.locator("#m-bp_systolic-warning_low-error")
    await expect(error).to_contain_text(
        "The warning low limit (160) must not be above the warning high limit (140).")
    await expect(systolic.get_by_label("Warning low")).to_have_attribute("aria-invalid", "true")
    await expect(systolic.get_by_label("Times (24-hour clock)")).to_have_value("08:00, 20:00")
    await expect(page.get_by_label("Goals")).to_have_value(
        "Blood pressure below 140/90\nNo dizziness")
    await snapshot(page, "careplan-editor-errors")
    assert await stored_versions(world, patient.id) == []

    await summary.get_by_role("link").first.click()
    await expect(systolic.get_by_label("Warning low")).to_be_focused()
    await systolic.get_by_label("Warning low").fill("100")
    await page.get_by_role("button", name="Save as draft").click()

    await expect(page.get_by_role("status")).to_have_text("Care plan saved as a draft.")
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        "Hypertension – home monitoring")
    assert await stored_versions(world, patient.id) == [(1, "draft")]

    await page.get_by_role("button", name="Activate").click()  # confirm dialog accepted
    await expect(page.get_by_role("status")).to_have_text("Care plan activated.")
    assert await stored_versions(world, patient.id) == [(1, "active")]
    await snapshot(page, "careplan-view")

    await page.get_by_role("link", name="Edit", exact=True).click()
    await expect(page.locator("#version-note")).to_contain_text("Saving creates version 2.")
    await expect(systolic.get_by_label("Warning high")).to_have_value("140")
    await systolic.get_by_label("Warning high").fill("135")
    await page.get_by_role("button", name="Save as version 2").click()

    await expect(page.get_by_role("status")).to_have_text("Saved as version 2.")
    assert await stored_versions(world, patient.id) == [(1, "active"), (2, "active")]
    await page.get_by_role("link", name="Version 1").click()
    await expect(page.get_by_text("which has been replaced")).to_be_visible()
    row = page.get_by_role("row", name=re.compile("Systolic blood pressure"))
    await expect(row).to_contain_text("140")


async def test_language_switch_error_page_and_skip_link(page: Page) -> None:
    await page.goto("/login")
    await page.get_by_role("button", name="Italiano").click()
    await expect(page.locator("html")).to_have_attribute("lang", "it")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Accedi")
    await page.goto("/no-such-page")  # the login form has autofocus; this page has none
    await expect(page.get_by_role("heading", level=1)).to_have_text("Pagina non trovata")
    await page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Vai al contenuto principale")
    await expect(skip).to_be_focused()
    await expect(skip).to_be_visible()
