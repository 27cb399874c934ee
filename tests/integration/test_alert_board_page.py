"""The alert board page (/alerts) and the patient page's vitals and devices, through the app."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.bus import ALERTS
from telemed.db.models import Alert, Device, Patient
from telemed.db.types import utcnow
from tests.conftest import World
from tests.helpers.pages import csrf_of, log_in, post_form, text_of
from tests.helpers.ward import Ward
from tests.integration.monitoring import add_plan, alerts_of, now_s
from tests.integration.sse import next_event

Client = TestClient[Any, Any]
ROW_RE = re.compile(r'<li class="alert-card[^"]*" id="alert-([A-Za-z0-9_-]+)"([^>]*)>')


class Board(Ward):
    """The Ward of the alerts API tests, plus a second patient of the same team."""

    async def build(self) -> Board:
        await super().build()
        w = self.world
        self.second = await w.patient(team=[self.doctor["id"], self.nurse["id"]])
        from tests.integration.monitoring import add_device

        self.second_device = await add_device(w.app, self.second.id)
        self.other_device = await add_device(w.app, self.other.id)
        return self

    async def send_to(self, device: str, *records: tuple[str, float, str, float]) -> None:
        from tests.integration.monitoring import basic, pack

        resp = await self.world.client.post(f"/api/v1/devices/{device}/readings",
                                            data=pack(*records), headers=basic(device))
        assert resp.status == 200, await resp.text()


@pytest.fixture
async def board(world: World) -> Board:
    return await Board(world).build()


def rows_of(page: str) -> list[tuple[str, bool]]:
    """(alert id, hidden) of the board's rows, in page order."""
    return [(m[1], " hidden" in m[2]) for m in ROW_RE.finditer(page)]


def row_html(page: str, alert_id: str) -> str:
    start = page.index(f'id="alert-{alert_id}"')
    return page[start:page.index("</li>", start)]


async def three_alerts(board: Board) -> tuple[Alert, Alert, Alert]:
    """A warning, another patient's warning, then a critical alert (in that order)."""
    t = now_s()
    await board.send(("spo2", 93, "%", t - 120))                       # warning
    await board.send_to(board.second_device, ("heart_rate", 118, "/min", t - 60))  # warning
    await board.send(("body_temp", 40.4, "Cel", t - 30))               # critical
    first = await alerts_of(board.world.app, board.patient.id)
    [second] = await alerts_of(board.world.app, board.second.id)
    spo2 = next(a for a in first if a.metric == "spo2")
    temp = next(a for a in first if a.metric == "body_temp")
    return spo2, second, temp


# --- the board ------------------------------------------------------------------------------


async def test_board_lists_the_callers_alerts_critical_first_then_oldest(
        client: Client, board: Board) -> None:
    spo2, heart, temp = await three_alerts(board)
    await board.send_to(board.other_device, ("spo2", 85, "%", now_s()))  # another team's
    [theirs] = await alerts_of(board.world.app, board.other.id)
    await log_in(client, board.nurse["username"])
    resp = await client.get("/alerts")
    assert resp.status == 200
    page = await resp.text()
    assert [alert_id for alert_id, _ in rows_of(page)] == [temp.id, spo2.id, heart.id]
    assert theirs.id not in page
    assert f"{board.other.family_name} {board.other.given_name}" not in page
    text = text_of(page)
    assert "Alert board" in text and "Alerts shown: 3 of 3." in text
    temp_row = text_of(row_html(page, temp.id))
    assert "Critical" in temp_row and "Open" in temp_row
    assert f"{board.patient.family_name} {board.patient.given_name}" in temp_row
    assert "Body temperature: 40.4 °C (very high)" in temp_row
    # the patient's latest vitals beside the alert, the zone said in words
    assert "Latest vitals" in temp_row and "Oxygen saturation 93 %" in temp_row
    assert "Low" in temp_row and "Very high" in temp_row
    heart_row = text_of(row_html(page, heart.id))
    assert "Heart rate 118 bpm High" in heart_row and "Warning" in heart_row
    assert 'aria-live="assertive"' in page and 'aria-live="polite"' in page
    data = json.loads(re.search(r'id="board-data">(.*?)</script>', page, re.S)[1])  # type: ignore[index]
    assert data["seq"] >= max(a.seq for a in (spo2, heart, temp, theirs))
    assert "<script>" not in page and "style=" not in page


async def test_filters_are_query_parameters(client: Client, board: Board) -> None:
    spo2, heart, temp = await three_alerts(board)
    await log_in(client, board.nurse["username"])
    page = await (await client.get("/alerts", params={"severity": "critical"})).text()
    assert rows_of(page) == [(temp.id, False), (spo2.id, True), (heart.id, True)]
    assert "Alerts shown: 1 of 3." in text_of(page)
    name = f"{board.second.given_name} {board.second.family_name}".lower()  # either order
    page = await (await client.get("/alerts", params={"q": name})).text()
    assert rows_of(page) == [(temp.id, True), (spo2.id, True), (heart.id, False)]
    page = await (await client.get("/alerts", params={"status": "acknowledged"})).text()
    assert [hidden for _, hidden in rows_of(page)] == [True, True, True]
    assert "No alert matches these filters." in text_of(page)
    page = await (await client.get("/alerts", params={"severity": "nonsense"})).text()
    assert [hidden for _, hidden in rows_of(page)] == [False, False, False]


async def test_acknowledge_form_changes_the_alert_and_keeps_the_filters(
        client: Client, board: Board) -> None:
    spo2, _heart, _temp = await three_alerts(board)
    await log_in(client, board.nurse["username"])
    resp = await post_form(client, f"/alerts/{spo2.id}/ack",
                           {"next": "/alerts?severity=warning"}, page="/alerts")
    assert resp.status == 303
    assert resp.headers["Location"] == f"/alerts?severity=warning#alert-{spo2.id}"
    [after] = [a for a in await alerts_of(board.world.app, board.patient.id) if a.id == spo2.id]
    assert after.status == "acknowledged" and after.acknowledged_by == board.nurse["id"]
    page = await (await client.get("/alerts?severity=warning")).text()
    assert "Alert acknowledged." in text_of(page)
    row = text_of(row_html(page, spo2.id))
    assert "Acknowledged by Nurse" in row and "Acknowledge the alert" not in row
    again = await post_form(client, f"/alerts/{spo2.id}/ack", {}, page="/alerts")
    assert again.status == 409
    assert "This alert is already acknowledged." in text_of(await again.text())


async def test_forms_need_the_csrf_token(client: Client, board: Board) -> None:
    spo2, _heart, _temp = await three_alerts(board)
    await log_in(client, board.nurse["username"])
    resp = await client.post(f"/alerts/{spo2.id}/ack", data={"next": "/alerts"},
                             allow_redirects=False)
    assert resp.status == 403
    resp = await client.post(f"/alerts/{spo2.id}/resolve",
                             data={"note": "x", "csrf_token": "forged"}, allow_redirects=False)
    assert resp.status == 403
    [after] = [a for a in await alerts_of(board.world.app, board.patient.id) if a.id == spo2.id]
    assert after.status == "open"


async def test_resolve_needs_a_note_said_next_to_the_field(client: Client, board: Board) -> None:
    spo2, _heart, _temp = await three_alerts(board)
    await log_in(client, board.doctor["username"])
    resp = await post_form(client, f"/alerts/{spo2.id}/resolve", {"note": "  "}, page="/alerts")
    assert resp.status == 422
    page = await resp.text()
    assert f'id="note-{spo2.id}-error"' in page and 'aria-invalid="true"' in page
    assert "Say how the alert was resolved." in text_of(page)
    assert f'href="#note-{spo2.id}"' in page  # the error summary links to the field
    assert (await alerts_of(board.world.app, board.patient.id))[0].status == "open"
    resp = await post_form(client, f"/alerts/{spo2.id}/resolve",
                           {"note": "Called the patient: probe slipped.", "next": "/alerts"},
                           page="/alerts")
    assert resp.status == 303 and resp.headers["Location"] == "/alerts"
    [after] = [a for a in await alerts_of(board.world.app, board.patient.id) if a.id == spo2.id]
    assert after.status == "resolved" and after.resolve_note == "Called the patient: probe slipped."
    page = await (await client.get("/alerts")).text()
    assert spo2.id not in [alert_id for alert_id, _ in rows_of(page)]
    assert "Alert resolved." in text_of(page)


async def test_snooze_form(client: Client, board: Board) -> None:
    spo2, _heart, _temp = await three_alerts(board)
    await log_in(client, board.nurse["username"])
    bad = await post_form(client, f"/alerts/{spo2.id}/snooze", {"minutes": "7"}, page="/alerts")
    assert bad.status == 422
    assert "Choose how long to snooze the alert." in text_of(await bad.text())
    resp = await post_form(client, f"/alerts/{spo2.id}/snooze", {"minutes": "60"}, page="/alerts")
    assert resp.status == 303
    [after] = [a for a in await alerts_of(board.world.app, board.patient.id) if a.id == spo2.id]
    assert after.snoozed_until is not None
    assert timedelta(minutes=59) < after.snoozed_until - utcnow() <= timedelta(minutes=60)
    page = await (await client.get("/alerts")).text()
    assert "Snoozed until" in text_of(row_html(page, spo2.id))
    assert "Alert snoozed for 60 minutes." in text_of(page)


async def test_another_teams_alert_cannot_be_touched(client: Client, board: Board) -> None:
    await board.send_to(board.other_device, ("spo2", 85, "%", now_s()))
    [theirs] = await alerts_of(board.world.app, board.other.id)
    await log_in(client, board.nurse["username"])
    resp = await post_form(client, f"/alerts/{theirs.id}/ack", {}, page="/alerts")
    assert resp.status == 403
    resp = await client.get("/alerts/rows", params={"id": theirs.id})
    assert resp.status == 200 and theirs.id not in await resp.text()
    [after] = await alerts_of(board.world.app, board.other.id)
    assert after.status == "open"


async def test_rows_fragment_is_the_boards_markup(client: Client, board: Board) -> None:
    spo2, heart, temp = await three_alerts(board)
    await log_in(client, board.nurse["username"])
    resp = await client.get("/alerts/rows", params=[("id", spo2.id), ("id", temp.id),
                                                    ("id", "nope"),
                                                    ("next", "/alerts?severity=warning")])
    assert resp.status == 200
    fragment = await resp.text()
    assert fragment.lstrip().startswith('<li class="alert-card')
    assert "<html" not in fragment
    assert sorted(alert_id for alert_id, _ in rows_of(fragment)) == sorted([spo2.id, temp.id])
    assert heart.id not in fragment
    assert 'name="next" value="/alerts?severity=warning"' in fragment
    assert re.search(r'name="csrf_token" value="[^"]+"', fragment)
    too_many = [("id", str(n)) for n in range(51)]
    assert (await client.get("/alerts/rows", params=too_many)).status == 400


async def test_rows_fragment_leaves_the_notice_for_the_next_page(client: Client,
                                                                board: Board) -> None:
    spo2, _heart, _temp = await three_alerts(board)
    await log_in(client, board.nurse["username"])
    await post_form(client, f"/alerts/{spo2.id}/ack", {}, page="/alerts")
    await client.get("/alerts/rows", params={"id": spo2.id})
    assert "Alert acknowledged." in text_of(await (await client.get("/alerts")).text())


async def test_the_form_actions_reach_the_stream(client: Client, board: Board) -> None:
    spo2, _heart, _temp = await three_alerts(board)
    await log_in(client, board.nurse["username"])
    page = await (await client.get("/alerts")).text()
    seq = json.loads(re.search(r'id="board-data">(.*?)</script>', page, re.S)[1])["seq"]  # type: ignore[index]
    stream = await client.get("/api/v1/alerts/stream", params={"last_event_id": str(seq)})
    assert stream.status == 200
    bus: Any = client.app[keys.BUS]
    for _ in range(100):
        if bus.subscriber_count(ALERTS) >= 1:
            break
        await asyncio.sleep(0.02)
    await post_form(client, f"/alerts/{spo2.id}/ack", {}, page="/alerts")
    event = await next_event(stream)
    assert event.data["id"] == spo2.id and event.data["status"] == "acknowledged"
    assert int(event.id or 0) > seq
    stream.close()


@pytest.mark.parametrize(("role", "status"), [("patient", 403), ("admin", 403)])
async def test_board_is_for_nurses_and_doctors(client: Client, board: Board, role: str,
                                               status: int) -> None:
    who = board.patient_user if role == "patient" else board.admin
    await log_in(client, who["username"])
    assert (await client.get("/alerts", allow_redirects=False)).status == status


async def test_anonymous_goes_to_login_and_nurses_see_the_link(client: Client,
                                                               board: Board) -> None:
    resp = await client.get("/alerts", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"].startswith("/login?next=")
    await log_in(client, board.nurse["username"])
    page = await (await client.get("/patients")).text()
    assert '<a href="/alerts">Alert board</a>' in page


async def test_board_in_italian(client: Client, board: Board) -> None:
    spo2, _heart, temp = await three_alerts(board)
    await log_in(client, board.nurse["username"])
    await post_form(client, "/language", {"lang": "it", "next": "/"})
    await post_form(client, f"/alerts/{spo2.id}/ack", {}, page="/alerts")
    page = await (await client.get("/alerts")).text()
    text = text_of(page)
    assert "Bacheca allerte" in text and "Allerta presa in carico." in text
    row = text_of(row_html(page, temp.id))
    assert "Critica" in row and "Temperatura corporea: 40,4 °C (molto alto)" in row
    assert "Prendi in carico" in row and "Silenzia" in row and "Risolvi" in row
    assert "Presa in carico da" in text_of(row_html(page, spo2.id))


ITALIAN_MONTHS = ("gen", "feb", "mar", "apr", "mag", "giu", "lug", "ago", "set", "ott",
                  "nov", "dic")


def detail_of(page: str, alert_id: str) -> str:
    """The detail paragraph of an alert's row."""
    match = re.search(r'<p class="alert-card__detail">(.*?)</p>', row_html(page, alert_id),
                      re.S)
    assert match, "no detail in the row"
    return text_of(match[1])


def italian_time(epoch: float, zone: str) -> str:
    """"14:32 del 29 lug": how the board says a time of the patient's zone in Italian."""
    local = datetime.fromtimestamp(epoch, UTC).astimezone(ZoneInfo(zone))
    return f"{local:%H:%M} del {local.day} {ITALIAN_MONTHS[local.month - 1]}"


async def test_italian_board_says_the_detail_in_italian_at_the_patients_time(
        client: Client, board: Board) -> None:
    t = float(int(now_s()) // 60 * 60 - 120)  # a whole minute, two minutes ago
    async with board.world.app[keys.SESSIONS]() as session:
        second = await session.get(Patient, board.second.id)
        assert second is not None
        second.timezone = "America/New_York"
        session.add(second)
        await session.commit()
    await board.send(("heart_rate", 150, "/min", t))
    await board.send_to(board.second_device, ("body_temp", 39.5, "Cel", t))
    [rome] = await alerts_of(board.world.app, board.patient.id)
    [new_york] = await alerts_of(board.world.app, board.second.id)
    async with board.world.app[keys.SESSIONS]() as session:  # an alert from before 0004
        old = Alert(patient_id=board.patient.id, rule_key="threshold:spo2", kind="threshold",
                    metric="spo2", severity="warning", seq=1,
                    detail="Oxygen saturation 93 % (warning low) at 2025-01-01T10:00:00+00:00")
        session.add(old)
        await session.commit()
    await log_in(client, board.nurse["username"])
    await post_form(client, "/language", {"lang": "it", "next": "/"})
    page = await (await client.get("/alerts")).text()
    assert detail_of(page, rome.id) == (
        f"Frequenza cardiaca 150 bpm (sopra la soglia critica) alle "
        f"{italian_time(t, 'Europe/Rome')}")
    # another zone than the site's: its local time, and its name
    assert detail_of(page, new_york.id) == (
        f"Temperatura corporea 39,5 °C (sopra la soglia di allerta) alle "
        f"{italian_time(t, 'America/New_York')} (America/New_York)")
    # an alert stored before the structured detail: its English detail, as before
    assert detail_of(page, old.id) == (
        "Oxygen saturation 93 % (warning low) at 2025-01-01T10:00:00+00:00")
    # the rows the board's script fetches after a change on the stream say the same
    resp = await client.get("/alerts/rows", params=[("id", rome.id), ("id", old.id)])
    fragment = await resp.text()
    assert resp.headers["Content-Language"] == "it"
    assert detail_of(fragment, rome.id) == detail_of(page, rome.id)
    assert detail_of(fragment, old.id) == detail_of(page, old.id)
    # in English, the English sentence with the same local time
    await post_form(client, "/language", {"lang": "en", "next": "/"})
    english = detail_of(await (await client.get("/alerts")).text(), rome.id)
    local = datetime.fromtimestamp(t, UTC).astimezone(ZoneInfo("Europe/Rome"))
    month = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
             "Dec")[local.month - 1]
    assert english == (f"Heart rate 150 bpm (critical high) at {local:%H:%M} on {local.day} "
                       f"{month}")


async def test_empty_board(client: Client, board: Board) -> None:
    await log_in(client, board.nurse["username"])
    text = text_of(await (await client.get("/alerts")).text())
    assert "No open alerts for your patients." in text


# --- the patient page ------------------------------------------------------------------------


async def test_patient_page_shows_vitals_and_devices(client: Client, board: Board) -> None:
    await add_plan(board.world.app, board.patient.id, board.doctor["id"], {"monitoring": [
        {"metric": "bp_systolic", "schedule": {"times": ["08:00"]},
         "bands": {"critical_low": 85, "warning_low": 95, "warning_high": 150,
                   "critical_high": 180}},
        {"metric": "body_weight", "schedule": {"times": ["07:30"]}},
    ]})
    t = now_s()
    await board.send(("bp_systolic", 162, "mm[Hg]", t - 3600), ("bp_diastolic", 95, "mm[Hg]",
                                                                  t - 3600),
                     ("heart_rate", 72, "/min", t - 3600), ("battery", 15, "%EL", t - 3600))
    await board.send(("bp_systolic", 138, "mm[Hg]", t - 60), ("bp_diastolic", 84, "mm[Hg]",
                                                                t - 60))
    await log_in(client, board.doctor["username"])
    page = await (await client.get(f"/patients/{board.patient.id}")).text()
    text = text_of(page)
    assert "Vitals" in text and "Devices" in text
    # one chart per monitored metric (blood pressure together), and metrics with readings
    charts = re.findall(r'<article class="card chart-card" id="chart-([a-z_]+)"', page)
    assert charts == ["heart_rate", "bp", "body_weight"]
    configs = [json.loads(c.replace("&#34;", '"').replace("&amp;", "&"))
               for c in re.findall(r'data-chart="([^"]+)"', page)]
    bp = next(c for c in configs if c["key"] == "bp")
    assert [s["metric"] for s in bp["series"]] == ["bp_systolic", "bp_diastolic"]
    assert bp["series"][0]["bands"] == {"critical_low": 85, "warning_low": 95,
                                        "warning_high": 150, "critical_high": 180}
    assert bp["patient"] == board.patient.id
    assert "138/84 mmHg" in text
    assert ("Systolic: Warning below 95 or above 150 mmHg; critical below 85 or above "
            "180 mmHg.") in text
    assert "In the last 7 days: Systolic: 2 readings, from 138 to 162 mmHg" in text
    assert "162 (High)" in text  # the table says the zone in words
    assert "Body weight" in text and "No readings yet." in text
    # devices: serial, kind, status, last seen, battery
    async with board.world.app[keys.SESSIONS]() as session:
        device = await session.get(Device, board.device)
        assert device is not None
    assert device.serial in text and "Multi-parameter monitor" in text
    assert "Offline" in text or "Online" in text
    assert "15 % Low" in text
    page = await (await client.get(f"/patients/{board.patient.id}?vitals=24h")).text()
    assert 'data-range="24h" aria-current="true"' in page
    assert "In the last 24 hours:" in text_of(page)


async def test_patient_page_for_admin_has_no_vitals(client: Client, board: Board) -> None:
    await log_in(client, board.admin["username"])
    page = await (await client.get(f"/patients/{board.patient.id}")).text()
    # (the page's import map names every module; none of the vitals is loaded)
    assert "Vitals" not in text_of(page) and 'src="/static/vitals/' not in page


async def test_the_sound_is_served(client: Client) -> None:
    await csrf_of(client)
    resp = await client.get("/static/sounds/critical-alert.wav")
    assert resp.status == 200
    body = await resp.read()
    assert body[:4] == b"RIFF" and body[8:12] == b"WAVE"


async def test_an_over_long_or_bidi_note_is_refused_next_to_the_field(client: Client,
                                                                      board: Board) -> None:
    spo2, _heart, _temp = await three_alerts(board)
    await log_in(client, board.doctor["username"])
    for note, error in (("x" * 1001, "At most 1000 characters."),
                        ("ok \u202egnp.exe", "not allowed here (U+202E)")):
        resp = await post_form(client, f"/alerts/{spo2.id}/resolve", {"note": note},
                               page="/alerts")
        assert resp.status == 422
        page = await resp.text()
        assert f'id="note-{spo2.id}-error"' in page and error in text_of(page)
    [after] = [a for a in await alerts_of(board.world.app, board.patient.id) if a.id == spo2.id]
    assert after.status == "open" and after.resolve_note is None  # nothing cut and stored
