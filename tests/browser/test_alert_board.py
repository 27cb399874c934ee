"""The alert board and the patient's vitals in real Chromium: alerts arrive live, actions work."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Page, expect

from telemed import keys
from telemed.db.models import Alert, Observation
from telemed.services import alerts as alert_service
from tests.browser.conftest import snapshot
from tests.conftest import World
from tests.helpers.browser import log_in
from tests.integration.monitoring import add_device, add_plan, alerts_of, basic, now_s, pack

pytestmark = pytest.mark.browser


class Ward:
    """A nurse and a doctor with three patients, each with a device."""

    def __init__(self, world: World) -> None:
        self.world = world

    async def build(self) -> Ward:
        w = self.world
        self.doctor = await w.user("doctor")
        self.nurse = await w.user("nurse")
        team = [self.doctor["id"], self.nurse["id"]]
        self.patients = [await w.patient(team=team) for _ in range(3)]
        self.devices = [await add_device(w.app, p.id) for p in self.patients]
        return self

    async def send(self, index: int, *records: tuple[str, float, str, float]) -> None:
        device = self.devices[index]
        resp = await self.world.client.post(f"/api/v1/devices/{device}/readings",
                                            data=pack(*records), headers=basic(device))
        assert resp.status == 200, await resp.text()

    async def alert(self, index: int, metric: str) -> Alert:
        found = [a for a in await alerts_of(self.world.app, self.patients[index].id)
                 if a.metric == metric and a.status != "resolved"]
        assert found, f"no {metric} alert"
        return found[0]


@pytest.fixture
async def ward(world: World) -> Ward:
    return await Ward(world).build()


def row(page: Page, alert_id: str) -> Any:
    return page.locator(f"#alert-{alert_id}")


def script_errors(page: Page) -> list[str]:
    """Uncaught errors and console errors of the page's scripts, collected from now on."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    def on_console(message: Any) -> None:
        if message.type == "error" and not message.location.get("url", "").endswith(
                "/favicon.ico"):  # the site has no icon; Chromium asks for one anyway
            errors.append(f"{message.text} ({message.location.get('url')})")

    page.on("console", on_console)
    return errors


async def test_new_alert_appears_live_and_is_handled_from_the_board(
        page: Page, ward: Ward, client: TestClient[Any, Any]) -> None:
    t = now_s()
    # A board with several kinds of alerts: warning, critical escalated to the doctor,
    # recovered, acknowledged.
    await ward.send(0, ("spo2", 93, "%", t - 600), ("heart_rate", 84, "/min", t - 600),
                    ("bp_systolic", 132, "mm[Hg]", t - 600), ("bp_diastolic", 84, "mm[Hg]",
                                                                 t - 600))
    await ward.send(1, ("heart_rate", 138, "/min", t - 500), ("spo2", 95, "%", t - 500),
                    ("body_temp", 37.9, "Cel", t - 500))
    await ward.send(2, ("body_temp", 39.4, "Cel", t - 400))
    await ward.send(2, ("body_temp", 37.0, "Cel", t - 300))  # back in range: "recovered"
    await ward.send(0, ("resp_rate", 22, "/min", t - 200))
    escalated = await ward.alert(1, "heart_rate")
    async with ward.world.app[keys.SESSIONS]() as session:
        stored = await session.get(Alert, escalated.id)
        assert stored is not None
        await alert_service.escalate(session, stored, ward.doctor["id"])
        await session.commit()
    resp_rate = await ward.alert(0, "resp_rate")
    nurse_headers = await ward.world.token(ward.nurse["username"])
    ack = await client.post(f"/api/v1/alerts/{resp_rate.id}/ack", json={"note": "called"},
                            headers=nurse_headers)
    assert ack.status == 200

    errors = script_errors(page)
    # Count the chimes instead of playing them.
    await page.add_init_script(
        "window.chimes = 0; HTMLMediaElement.prototype.play = function () {"
        " window.chimes += 1; return Promise.resolve(); };")
    await log_in(page, ward.nurse["username"])
    await page.get_by_role("link", name="Alert board").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Alert board")
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    await expect(page.locator("#live-status")).to_contain_text("Live")
    cards = page.locator("#alert-list > li")
    await expect(cards).to_have_count(4)
    await expect(row(page, escalated.id)).to_contain_text("Escalated")
    recovered = await ward.alert(2, "body_temp")
    await expect(row(page, recovered.id)).to_contain_text("Recovered")
    await expect(row(page, resp_rate.id)).to_contain_text("Acknowledged by")
    await page.get_by_label("Sound for new critical alerts").check()
    await snapshot(page, "alert-board")

    # An out-of-band reading arrives: its alert appears without reloading, in its place
    # (critical: after the older critical alert, before every warning), and is announced.
    await ward.send(0, ("spo2", 88, "%", now_s()))
    spo2 = await ward.alert(0, "spo2")  # the warning escalated to critical
    await expect(row(page, spo2.id).locator(".severity")).to_have_text("Critical")
    # the patient's other alert shows the new latest vitals too
    await expect(row(page, resp_rate.id).locator(".vitals-mini")).to_contain_text("88")
    await ward.send(2, ("heart_rate", 38, "/min", now_s()))
    new = await ward.alert(2, "heart_rate")
    await expect(row(page, new.id)).to_be_visible()
    await expect(cards).to_have_count(5)
    order = await cards.evaluate_all("rows => rows.map(r => r.dataset.alertId)")
    patients = await cards.evaluate_all("rows => rows.map(r => r.dataset.patientId)")
    # One card per patient: each patient's alerts together, the patients in the order of
    # their most urgent alert (critical, oldest first), each one's alerts most urgent first.
    runs = [p for i, p in enumerate(patients) if i == 0 or patients[i - 1] != p]
    assert len(runs) == len(set(runs)) == 3
    heads = [order[patients.index(p)] for p in runs]
    assert heads == [spo2.id, escalated.id, new.id]
    assert order[:2] == [spo2.id, resp_rate.id]
    await expect(row(page, resp_rate.id)).to_have_class(re.compile("alert-card--same-patient"))
    await expect(row(page, spo2.id)).not_to_have_class(re.compile("alert-card--same-patient"))
    await expect(page.locator("#announce-assertive")).to_contain_text("New alert. Critical:")
    await expect(row(page, new.id)).to_contain_text("Heart rate: 38 bpm (very low)")
    await expect(row(page, new.id).locator(".alert-card__detail")).to_have_text(
        re.compile(r"^Heart rate 38 bpm \(critical low\) at \d\d:\d\d on \d{1,2} \w{3}$"))
    # a chime for the warning that became critical and one for the new critical alert
    await page.wait_for_function("window.chimes === 2")
    await expect(row(page, new.id).locator(".vitals-mini")).to_contain_text("38")
    await snapshot(page, "alert-board-live")

    # Acknowledge it from the board: the row updates in place and keeps the focus.
    await row(page, new.id).get_by_role("button", name=re.compile("^Acknowledge")).click()
    await expect(row(page, new.id).locator(".tag--acknowledged")).to_have_text("Acknowledged")
    nurse_name = ward.nurse["username"].title()
    await expect(row(page, new.id)).to_contain_text(f"Acknowledged by {nurse_name}")
    await expect(row(page, new.id).get_by_role("button", name=re.compile("^Acknowledge"))
                 ).to_have_count(0)
    await expect(page.locator("#announce-polite")).to_have_text("Alert acknowledged.")
    assert (await ward.alert(2, "heart_rate")).status == "acknowledged"

    # Resolve needs a note; then the row leaves the board.
    target = row(page, recovered.id)
    await target.get_by_text("Resolve…").click()
    await target.get_by_role("button", name=re.compile("^Resolve the alert")).click()
    await expect(target.locator(".error-message")).to_contain_text(
        "Say how the alert was resolved.")
    await expect(target.get_by_label("How was it resolved?")).to_be_focused()
    await target.get_by_label("How was it resolved?").fill("Fever gone, patient well.")
    await target.get_by_role("button", name=re.compile("^Resolve the alert")).click()
    await expect(target).to_have_count(0)
    await expect(cards).to_have_count(4)

    # Filters work in the page and go into the address.
    visible = page.locator("#alert-list > li:not([hidden])")
    await page.get_by_label("Severity").select_option("warning")
    await expect(page).to_have_url(re.compile(r"severity=warning"))
    await expect(visible).to_have_count(1)
    await expect(visible).to_have_id(f"alert-{resp_rate.id}")
    await page.get_by_label("Status").select_option("open")
    await expect(visible).to_have_count(0)
    await expect(page.locator("#board-no-match")).to_be_visible()
    await page.get_by_label("Severity").select_option("")
    await page.get_by_label("Status").select_option("")
    await page.get_by_label("Patient name").fill(ward.patients[1].given_name.lower())
    await expect(page.locator("#alert-list > li:not([hidden])")).to_have_count(1)
    await expect(page.locator("#board-count")).to_have_text("Alerts shown: 1 of 4.")

    # A new warning is announced politely and makes no sound; the sound choice is kept.
    await page.get_by_label("Patient name").fill("")
    await ward.send(1, ("resp_rate", 23, "/min", now_s()))
    warning = await ward.alert(1, "resp_rate")
    await expect(row(page, warning.id)).to_be_visible()
    await expect(page.locator("#announce-polite")).to_contain_text("New alert. Warning:")
    assert await page.evaluate("window.chimes") == 2
    await page.reload()
    await expect(page.get_by_label("Sound for new critical alerts")).to_be_checked()
    assert errors == []


async def test_a_live_alert_is_said_in_italian_at_the_patients_time(page: Page,
                                                                     ward: Ward) -> None:
    errors = script_errors(page)
    await log_in(page, ward.nurse["username"])
    await page.goto("/alerts")
    await page.get_by_role("button", name="Italiano").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Bacheca allerte")
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    t = float(int(now_s()) // 60 * 60 - 60)  # a whole minute
    await ward.send(1, ("heart_rate", 150, "/min", t))
    alert = await ward.alert(1, "heart_rate")
    local = datetime.fromtimestamp(t, UTC).astimezone(ZoneInfo("Europe/Rome"))
    month = ("gen", "feb", "mar", "apr", "mag", "giu", "lug", "ago", "set", "ott", "nov",
             "dic")[local.month - 1]
    await expect(row(page, alert.id).locator(".alert-card__detail")).to_have_text(
        f"Frequenza cardiaca 150 bpm (sopra la soglia critica) alle {local:%H:%M} del "
        f"{local.day} {month}")
    await expect(page.locator("#announce-assertive")).to_contain_text("Nuova allerta")
    assert errors == []


async def test_board_survives_a_reconnect(page: Page, ward: Ward) -> None:
    await log_in(page, ward.nurse["username"])
    await page.goto("/alerts")
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    await page.context.set_offline(True)
    await ward.send(0, ("spo2", 89, "%", now_s()))  # while the board is cut off
    await page.context.set_offline(False)
    spo2 = await ward.alert(0, "spo2")
    await expect(row(page, spo2.id)).to_be_visible(timeout=15_000)


async def test_patient_page_charts_with_bands(page: Page, ward: Ward) -> None:
    patient = ward.patients[0]
    await add_plan(ward.world.app, patient.id, ward.doctor["id"], {"monitoring": [
        {"metric": "bp_systolic", "schedule": {"times": ["08:00", "20:00"]},
         "bands": {"critical_low": 85, "warning_low": 95, "warning_high": 150,
                   "critical_high": 180}},
        {"metric": "bp_diastolic", "schedule": {"times": ["08:00", "20:00"]},
         "bands": {"warning_low": 55, "warning_high": 95, "critical_high": 110}},
        {"metric": "heart_rate", "schedule": {"continuous": True}},
        {"metric": "body_weight", "schedule": {"times": ["07:30"]}},
    ]})
    now = datetime.now(UTC)
    rows = []
    for hours in range(0, 24 * 8, 6):
        when = now - timedelta(hours=hours, minutes=7)
        wave = (hours % 48) / 48
        rows += [("bp_systolic", 128 + 30 * wave + (12 if hours == 30 else 0), "mm[Hg]", when),
                 ("bp_diastolic", 78 + 12 * wave, "mm[Hg]", when),
                 ("heart_rate", 70 + (hours % 24) / 2 + (45 if hours == 54 else 0), "/min", when)]
        if hours % 24 == 0:
            rows.append(("body_weight", 81.4 + hours / 96, "kg", when))
    async with ward.world.app[keys.SESSIONS]() as session:
        for metric, value, unit, when in rows:
            session.add(Observation(patient_id=patient.id, device_id=ward.devices[0],
                                    metric=metric, value=round(value, 1), unit=unit, time=when,
                                    received_at=when))
        await session.commit()

    errors = script_errors(page)
    await log_in(page, ward.doctor["username"])
    await page.goto(f"/patients/{patient.id}")
    vitals = page.locator("#vitals")
    await expect(vitals.get_by_role("heading", name="Vitals")).to_be_visible()
    for key in ("heart_rate", "bp", "body_weight"):
        await expect(page.locator(f"#chart-{key} svg.chart__svg")).to_be_visible()
    bp = page.locator("#chart-bp")
    await expect(bp.locator(".chart__zone--critical")).not_to_have_count(0)
    await expect(bp.locator(".chart__zone--warning")).not_to_have_count(0)
    await expect(bp.locator(".chart__panel-label")).to_have_text(["Systolic", "Diastolic"])
    await expect(bp.locator("svg")).to_have_attribute(
        "aria-label", re.compile(r"^Blood pressure, in the last 7 days: chart"))
    await expect(page.locator("#devices")).to_contain_text("Multi-parameter monitor")
    await snapshot(page, "patient-vitals")

    await vitals.get_by_role("link", name="24 hours").click()
    await expect(vitals.get_by_role("link", name="24 hours")).to_have_attribute(
        "aria-current", "true")
    await expect(page).to_have_url(re.compile(r"vitals=24h"))
    await expect(bp.locator("[data-chart-summary]")).to_contain_text("In the last 24 hours:")
    await expect(bp.locator("[data-chart-summary]")).to_contain_text("4 readings")
    await snapshot(page, "patient-vitals-24h")
    assert errors == []


async def test_board_works_without_javascript(browser: Any, base_url: str, ward: Ward) -> None:
    await ward.send(0, ("spo2", 93, "%", now_s()))
    await ward.send(1, ("heart_rate", 135, "/min", now_s()))
    spo2, heart = await ward.alert(0, "spo2"), await ward.alert(1, "heart_rate")
    context = await browser.new_context(base_url=base_url, locale="en-GB",
                                        java_script_enabled=False,
                                        viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = await context.new_page()
    try:
        await log_in(page, ward.nurse["username"])
        await page.goto("/alerts?severity=warning")
        await expect(page.locator("#live-status")).to_contain_text("Not live")
        await expect(row(page, heart.id)).to_be_hidden()  # filtered out by the server
        await row(page, spo2.id).get_by_role("button", name=re.compile("^Acknowledge")).click()
        await expect(page.get_by_role("status").first).to_contain_text("Alert acknowledged.")
        await expect(page).to_have_url(re.compile(r"/alerts\?severity=warning#alert-"))
        await expect(row(page, spo2.id)).to_contain_text("Acknowledged by")

        await page.goto("/alerts")
        target = row(page, heart.id)
        await target.get_by_text("Resolve…").click()
        await target.get_by_role("button", name=re.compile("^Resolve the alert")).click()
        summary = page.locator("[data-error-summary]")
        await expect(summary).to_contain_text("Resolution note: Say how the alert was resolved.")
        await expect(row(page, heart.id).get_by_label("How was it resolved?")).to_have_attribute(
            "aria-invalid", "true")
        await snapshot(page, "alert-board-nojs-error")
        await row(page, heart.id).get_by_label("How was it resolved?").fill("Rate back to 80.")
        await row(page, heart.id).get_by_role("button",
                                              name=re.compile("^Resolve the alert")).click()
        await expect(page.get_by_role("status").first).to_contain_text("Alert resolved.")
        await expect(row(page, heart.id)).to_have_count(0)
    finally:
        await context.close()


async def test_the_board_loads_every_module_by_its_versioned_url(page: Page, ward: Ward) -> None:
    """The import map (allowed by its hash in the CSP) points each imported module at its
    versioned URL: a return visit asks the server for no module again."""
    errors = script_errors(page)
    modules: list[str] = []
    page.on("request", lambda request: modules.append(request.url)
            if "/static/" in request.url and ".js" in request.url else None)
    await log_in(page, ward.nurse["username"])
    await page.goto("/alerts")
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    imported = [url for url in modules if "/alert-board/rows.js" in url]
    assert imported and all("?v=" in url for url in modules), modules
    assert errors == []
    await page.goto("/alerts")
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    sizes: dict[str, int] = dict(await page.evaluate(
        "performance.getEntriesByType('resource').filter(e => e.name.includes('/static/'))"
        ".map(e => [e.name, e.transferSize])"))
    assert any("/alert-board/rows.js?v=" in name for name in sizes), sizes
    assert {name: size for name, size in sizes.items() if size > 0} == {}  # all from the cache
