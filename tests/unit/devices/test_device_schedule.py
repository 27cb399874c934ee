"""Following the care plan's measurement times from the config topic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from devices.schedule import next_session

ROME = ZoneInfo("Europe/Rome")
CONFIG = {
    "timezone": "Europe/Rome",
    "measurements": [
        {"metric": "bp_systolic", "times": ["08:00", "20:00"], "tolerance_minutes": 60},
        {"metric": "bp_diastolic", "times": ["08:00", "20:00"], "tolerance_minutes": 60},
        {"metric": "spo2", "continuous": True},
    ],
}


def test_timed_metrics_of_a_slot_form_one_session() -> None:
    config = {**CONFIG, "measurements": CONFIG["measurements"][:2]}
    after = datetime(2026, 3, 2, 6, 0, tzinfo=ROME).astimezone(UTC)
    session = next_session(config, after, seed=1)
    assert session is not None
    assert session.metrics == ("bp_systolic", "bp_diastolic")
    local = session.at.astimezone(ROME)
    assert local.date() == after.astimezone(ROME).date()
    eight = local.replace(hour=8, minute=0, second=0, microsecond=0)
    assert eight <= local <= eight + timedelta(minutes=30)


def test_sessions_advance_and_are_deterministic() -> None:
    config = {**CONFIG, "measurements": CONFIG["measurements"][:2]}
    at = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    seen = []
    for _ in range(4):
        session = next_session(config, at, seed=3)
        assert session is not None and session.at > at
        seen.append(session.at)
        at = session.at
    assert [t.astimezone(ROME).hour for t in seen] == [8, 20, 8, 20]
    again = next_session(config, datetime(2026, 3, 2, 6, 0, tzinfo=UTC), seed=3)
    assert again is not None and again.at == seen[0]


def test_continuous_metrics_come_every_interval() -> None:
    at = datetime(2026, 3, 2, 10, 1, tzinfo=UTC)
    session = next_session(CONFIG, at, seed=1, continuous_every=timedelta(minutes=5))
    assert session is not None
    assert session.metrics == ("spo2",)
    assert session.at == datetime(2026, 3, 2, 10, 5, tzinfo=UTC)


def test_skipped_slots_are_left_out() -> None:
    config = {**CONFIG, "measurements": CONFIG["measurements"][:1]}
    at = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    assert next_session(config, at, seed=1, skip_probability=1.0) is None


def test_no_or_bad_config_means_no_schedule() -> None:
    at = datetime(2026, 3, 2, tzinfo=UTC)
    assert next_session(None, at) is None
    assert next_session({"measurements": "nope"}, at) is None
    assert next_session({"measurements": [{"metric": "spo2", "times": ["xx"]}]}, at) is None
