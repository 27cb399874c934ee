"""Which visit reminder is due (pure rule)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from telemed.notify.reminders import due_lead

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
BOOKED_EARLY = START - timedelta(days=3)


def test_day_before_then_quarter_of_an_hour_before() -> None:
    assert due_lead(START, BOOKED_EARLY, START - timedelta(hours=25)) is None
    assert due_lead(START, BOOKED_EARLY, START - timedelta(hours=24)) == "24h"
    assert due_lead(START, BOOKED_EARLY, START - timedelta(hours=2)) == "24h"
    assert due_lead(START, BOOKED_EARLY, START - timedelta(minutes=15)) == "15m"
    assert due_lead(START, BOOKED_EARLY, START - timedelta(minutes=1)) == "15m"
    assert due_lead(START, BOOKED_EARLY, START) is None


def test_a_visit_booked_for_tomorrow_morning_gets_no_day_before_reminder() -> None:
    booked = START - timedelta(hours=5)
    assert due_lead(START, booked, START - timedelta(hours=4)) is None
    assert due_lead(START, booked, START - timedelta(minutes=10)) == "15m"
