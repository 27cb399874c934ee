"""Structured alert details: codes, JSON-ready args with offset times, the API's English text."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from telemed.domain import alert_detail as d
from telemed.domain.news2 import score
from telemed.domain.schedule import measurement_windows
from telemed.domain.trends import TrendHit

AT = datetime(2026, 7, 29, 12, 32, 5, tzinfo=UTC)
ROME = ZoneInfo("Europe/Rome")


def every_detail() -> list[d.AlertDetail]:
    window = measurement_windows(["08:00"], 30, "Europe/Rome", AT - timedelta(hours=12), AT)[0]
    hit = TrendHit(AT - timedelta(hours=48), 78.9, AT, 81.0)
    scored = score({"resp_rate": 26, "spo2": 95, "bp_systolic": 105, "heart_rate": 135,
                    "body_temp": 37})
    return [
        d.threshold("heart_rate", 150.0, "critical_high", AT),
        d.threshold_recovered("heart_rate", 80.0, AT),
        d.trend("body_weight", hit, 2.0, 72),
        d.news2(scored, AT),
        d.news2_recovered(3, AT),
        d.missed_measurement("body_weight", window, "Europe/Rome", "device_offline"),
        d.device_silent("dev1", "SN-1", "scale", AT, 24),
        d.device_heard_again("dev1", "SN-1", "scale", AT),
        d.questionnaire("phq9", 12, 27, "moderate", ("item9",), AT),
        d.questionnaire_recovered("hf_diary", 1, 9, AT),
    ]


def test_every_code_is_built_and_its_args_are_json() -> None:
    details = every_detail()
    assert {x.code for x in details} == set(d.DETAIL_CODES)
    for detail in details:
        assert json.loads(json.dumps(detail.args_json())) == detail.args_json()
        assert detail.text and len(detail.text) <= 500


def test_the_english_text_is_the_api_sentence_with_utc_times() -> None:
    texts = [x.text for x in every_detail()]
    assert texts == [
        "Heart rate 150 bpm (critical high) at 2026-07-29T12:32:05+00:00",
        "Heart rate back to 80 bpm at 2026-07-29T12:32:05+00:00",
        "Body weight changed +2.1 kg in 48 h (78.9 kg at 2026-07-27T12:32+00:00 → 81.0 kg at "
        "2026-07-29T12:32+00:00; rule +2 in 72 h)",
        "NEWS2 8 (highest single parameter 3, risk high) at 2026-07-29T12:32:05+00:00",
        "NEWS2 3 at 2026-07-29T12:32:05+00:00",
        "Body weight due at 08:00 on 2026-07-29 (Europe/Rome) was not received: the device "
        "was offline [device_offline]",
        "Device SN-1 (scale) silent since 2026-07-29T12:32+00:00 (more than 24 h)",
        "Device SN-1 heard again at 2026-07-29T12:32+00:00",
        "phq9 score 12/27 (moderate; flags: item9) at 2026-07-29T12:32:05+00:00",
        "hf_diary score 1/9 at 2026-07-29T12:32:05+00:00",
    ]


def test_args_hold_the_values_and_times_with_their_offset() -> None:
    threshold, _, trend, news2, _, missed, silent, *_ = every_detail()
    assert threshold.args == {"metric": "heart_rate", "value": 150.0, "unit": "/min",
                              "zone": "critical_high", "at": "2026-07-29T12:32:05+00:00"}
    assert trend.args["start_time"] == "2026-07-27T12:32:05+00:00"
    assert trend.args["change"] == pytest.approx(2.1) and trend.args["delta"] == 2.0
    assert trend.args["window_hours"] == 72 and trend.args["unit"] == "kg"
    assert news2.args == {"total": 8, "max_single": 3, "risk": "high",
                          "at": "2026-07-29T12:32:05+00:00"}
    assert missed.args == {"metric": "body_weight", "due": "2026-07-29T06:00:00+00:00",
                           "local_date": "2026-07-29", "local_time": "08:00",
                           "timezone": "Europe/Rome", "reason": "device_offline"}
    assert silent.args["device_id"] == "dev1" and silent.args["silence_hours"] == 24
    for detail in every_detail():
        for key, value in detail.args.items():
            if key in ("at", "since", "due", "start_time", "end_time"):
                assert datetime.fromisoformat(value).utcoffset() == timedelta(0)


def test_local_times_are_stored_in_utc() -> None:
    local = AT.astimezone(ROME)
    assert d.threshold("spo2", 90, "critical_low", local).args["at"] == (
        "2026-07-29T12:32:05+00:00")


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        d.news2_recovered(2, datetime(2026, 1, 1, 8, 0))
