"""The vitals chart in Chromium: 30 days of per-minute readings drawn as 30 days (issue #16)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.async_api import Page, expect
from sqlalchemy import insert

from telemed import keys
from telemed.db.models import Observation
from tests.browser.conftest import snapshot
from tests.conftest import World
from tests.helpers.browser import log_in
from tests.integration.monitoring import add_device, add_plan


async def test_thirty_days_of_a_wearable_are_drawn_as_thirty_days(page: Page,
                                                                  world: World) -> None:
    doctor = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    await add_plan(world.app, patient.id, doctor["id"], {"monitoring": [
        {"metric": "spo2", "schedule": {"continuous": True},
         "bands": {"critical_low": 88, "warning_low": 92}}]})
    device = await add_device(world.app, patient.id)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    minutes = 30 * 1440
    rows: list[dict[str, Any]] = []
    for i in range(minutes):
        at = now - timedelta(minutes=minutes - 1 - i)
        value = 82.0 if i == 600 else 95.0 + i % 4  # one critical minute, 29 days ago
        rows.append({"patient_id": patient.id, "device_id": device, "metric": "spo2",
                     "value": value, "unit": "%", "time": at, "received_at": at,
                     "late": False})
    async with world.app[keys.ENGINE].begin() as conn:
        for start in range(0, len(rows), 5000):
            await conn.execute(insert(Observation.__table__), rows[start:start + 5000])  # type: ignore[attr-defined]

    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await log_in(page, doctor["username"])
    await page.goto(f"/patients/{patient.id}?vitals=30d")
    chart = page.locator("#chart-spo2")
    await expect(chart.locator("svg.chart__svg")).to_be_visible()
    # The band from lowest to highest and the mean line, in a few hundred points.
    await expect(chart.locator("polygon.chart__range")).to_have_count(1)
    line = await chart.locator("polyline.chart__line").get_attribute("points")
    assert line is not None
    xs = [float(p.split(",")[0]) for p in line.split()]
    assert 100 <= len(xs) <= 500
    width = float((await chart.locator("svg").get_attribute("viewBox") or "0 0 0 0").split()[2])
    # From the left edge of the plot to the right: the whole 30 days, not the last hours.
    assert xs[0] < 48 + 0.02 * (width - 62) and xs[-1] > width - 14 - 0.02 * (width - 62)
    # The one critical minute has its marker, at its exact value.
    dip = chart.locator(".chart__point--critical")
    await expect(dip).to_have_count(1)
    await expect(dip.locator("title")).to_contain_text(re.compile(r"^82 % \(Very low\)"))
    await expect(chart.locator(".chart__capped")).to_contain_text("Each point sums up 3 hours")
    await expect(chart.locator("[data-chart-summary]")).to_contain_text(
        re.compile(r"43,(200|199) readings, from 82 to 98 %"))
    # Another period redraws and rewrites the summary; the table keeps raw readings.
    await page.locator("#vitals").get_by_role("link", name="7 days").click()
    # Readings are one a minute up to the seeding: the 7 days that end at the click hold
    # 10,080 of them, or one fewer once a minute has passed since the seeding.
    await expect(chart.locator("[data-chart-summary]")).to_contain_text(
        re.compile(r"In the last 7 days: 10,0(80|79) readings, from 95 to 98 %"))
    await chart.get_by_text("Readings as a table").click()
    await expect(chart.locator("[data-chart-table] tbody tr")).to_have_count(50)
    await snapshot(page, "patient-vitals-30d-wearable")
    assert errors == []
