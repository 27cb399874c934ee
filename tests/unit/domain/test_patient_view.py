"""What the patient is told: today's measurements, a metric in words, alerts in plain words."""

from __future__ import annotations

from datetime import UTC, datetime, time

from telemed.domain.bands import Bands
from telemed.domain.patient_view import (
    ScheduledMetric,
    alert_message,
    due_today,
    metric_summary,
)

ROME = "Europe/Rome"
WEIGHT = ScheduledMetric("body_weight", (time(8, 0),), 60)
BP = ScheduledMetric("bp_systolic", (time(8, 0), time(20, 0)), 60)


def at(hour: int, minute: int = 0, day: int = 7) -> datetime:
    """UTC time on 2026-12-{day} (Rome is UTC+1 in December)."""
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


def test_due_today_received_missing_now_later() -> None:
    now = at(10)  # 11:00 in Rome
    readings = {"body_weight": [at(7, 5)]}  # 08:05 Rome, inside 07:00–09:00
    items = due_today([WEIGHT, BP], readings, ROME, now)
    got = [(i.metric, i.window.local_time.hour, i.status) for i in items]
    assert got == [("body_weight", 8, "received"), ("bp_systolic", 8, "missing"),
                   ("bp_systolic", 20, "later")]
    assert items[0].reading_time == at(7, 5)
    # inside the evening window with nothing yet
    items = due_today([BP], {}, ROME, at(19, 30))
    assert [i.status for i in items] == ["missing", "now"]


def test_due_today_ignores_yesterdays_reading_and_other_days() -> None:
    readings = {"body_weight": [at(7, 5, day=6)]}
    items = due_today([WEIGHT], readings, ROME, at(7, 30))
    assert len(items) == 1 and items[0].status == "now"
    assert items[0].window.local_date.day == 7


def test_due_today_reading_at_window_end_does_not_count() -> None:
    # window [07:00, 09:00) Rome = [06:00, 08:00) UTC: 08:00 UTC is outside
    items = due_today([WEIGHT], {"body_weight": [at(8, 0)]}, ROME, at(12))
    assert items[0].status == "late"
    assert due_today([WEIGHT], {}, ROME, at(12))[0].status == "missing"


def test_weight_change_in_words() -> None:
    week = [(at(7, day=1), 80.0), (at(7, day=4), 81.1), (at(7, day=7), 82.04)]
    message = metric_summary("body_weight", week, Bands(), told=True)
    assert message.code == "weight_up"
    assert message.params["delta"] == 2.0 and message.params["told"] is True
    down = metric_summary("body_weight", [(at(7, day=1), 80.0), (at(7), 79.0)], Bands(),
                          told=False)
    assert down.code == "weight_down" and down.params["delta"] == 1.0
    steady = metric_summary("body_weight", [(at(7, day=1), 80.0), (at(7), 80.4)], Bands(),
                            told=False)
    assert steady.code == "weight_steady"


def test_other_metrics_against_the_team_bands() -> None:
    bands = Bands(critical_low=54, warning_low=70, warning_high=180, critical_high=300)
    assert metric_summary("blood_glucose", [(at(7), 120.0)], bands, told=False).code \
        == "usual_range"
    high = metric_summary("blood_glucose", [(at(6), 100.0), (at(7), 190.0)], bands, told=True)
    assert high.code == "above_usual" and high.params["value"] == 190.0
    assert metric_summary("blood_glucose", [(at(7), 60.0)], bands, told=False).code \
        == "below_usual"
    # the limit itself is usual (bands alert strictly beyond)
    assert metric_summary("blood_glucose", [(at(7), 180.0)], bands, told=False).code \
        == "usual_range"
    # only critical limits
    assert metric_summary("spo2", [(at(7), 91.0)], Bands(critical_low=92), told=False).code \
        == "below_usual"
    assert metric_summary("spo2", [], Bands(), told=False).code == "no_readings"


def test_alert_messages_by_kind() -> None:
    assert alert_message("trend", "body_weight", acknowledged=False).code == "alert_change"
    assert alert_message("threshold", "spo2", acknowledged=True).params == {
        "metric": "spo2", "seen": True}
    assert alert_message("questionnaire", None, acknowledged=False).code == "alert_answers"
    assert alert_message("something_new", None, acknowledged=False).code == "alert_other"


def test_a_reading_after_its_window_is_received_late_unless_a_later_window_holds_it() -> None:
    # 11:30 Rome, after the 07:00-09:00 window of the weight
    items = due_today([WEIGHT], {"body_weight": [at(10, 30)]}, ROME, at(12))
    assert items[0].status == "late" and items[0].reading_time == at(10, 30)
    # a blood pressure at 19:30 Rome belongs to the evening window, not to the morning one
    items = due_today([BP], {"bp_systolic": [at(18, 30)]}, ROME, at(20))
    assert [i.status for i in items] == ["missing", "received"]
