from __future__ import annotations
import re
from datetime import UTC, datetime, timedelta
from playwright.async_api import Page, expect
from telemed import keys
from telemed.db.models import Observation
from tests.browser.test_alert_board import Ward, ward  # noqa: F401
from tests.browser.test_careplan_editor import log_in
from tests.integration.monitoring import add_plan, now_s

async def test_shots(page: Page, ward: Ward) -> None:
    patient = ward.patients[0]
    await add_plan(ward.world.app, patient.id, ward.doctor["id"], {"monitoring": [
        {"metric": "bp_systolic", "schedule": {"times": ["08:00", "20:00"]},
         "bands": {"critical_low": 85, "warning_low": 95, "warning_high": 150, "critical_high": 180}},
        {"metric": "bp_diastolic", "schedule": {"times": ["08:00", "20:00"]},
         "bands": {"warning_low": 55, "warning_high": 95, "critical_high": 110}},
        {"metric": "spo2", "schedule": {"continuous": True}},
    ]})
    now = datetime.now(UTC)
    async with ward.world.app[keys.SESSIONS]() as session:
        for hours in range(0, 24 * 8, 3):
            when = now - timedelta(hours=hours, minutes=7)
            for metric, value, unit in (("bp_systolic", 135 + (hours * 7) % 30, "mm[Hg]"), ("bp_diastolic", 80 + (hours * 3) % 12, "mm[Hg]"), ("spo2", 96 - (hours * 5) % 5, "%")):
                session.add(Observation(patient_id=patient.id, device_id=ward.devices[0], metric=metric, value=value, unit=unit, time=when, received_at=when))
        await session.commit()
    t = now_s()
    await ward.send(0, ("spo2", 91, "%", t))
    await ward.send(1, ("heart_rate", 120, "/min", t), ("body_temp", 38.2, "Cel", t))
    await log_in(page, ward.nurse["username"])
    await page.goto(f"/patients/{patient.id}")
    await expect(page.locator("#chart-bp svg")).to_be_visible()
    await page.locator("#chart-bp").screenshot(path="test-artifacts/x-bp.png")
    await page.locator("#chart-spo2").screenshot(path="test-artifacts/x-spo2.png")
    await page.get_by_text("Readings as a table").first.click()
    await page.locator("#chart-spo2").screenshot(path="test-artifacts/x-spo2-table.png")
    await page.goto("/alerts")
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    await page.locator("#alert-list > li").first.screenshot(path="test-artifacts/x-card.png")
    await page.set_viewport_size({"width": 390, "height": 800})
    await page.screenshot(path="test-artifacts/x-mobile.png", full_page=True)
    await page.set_viewport_size({"width": 1000, "height": 800})
    await page.get_by_role("button", name="Italiano").click()
    await page.goto("/alerts")
    await page.screenshot(path="test-artifacts/x-it.png", full_page=True)
    await page.goto(f"/patients/{patient.id}?vitals=30d")
    await expect(page.locator("#chart-bp svg")).to_be_visible()
    await page.locator("#vitals").screenshot(path="test-artifacts/x-it-vitals.png")
