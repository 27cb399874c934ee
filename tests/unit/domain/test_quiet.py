"""Quiet by design: night hours, who a warning may page, folding (time injected)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from telemed.domain.quiet import FOLD_WINDOW, NightHours, fold_key, folds_into, may_page

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


def test_night_hours_wrap_around_midnight() -> None:
    night = NightHours.parse("22:00-07:00")
    assert night.contains(time(23, 30)) and night.contains(time(3)) and night.contains(time(22))
    assert not night.contains(time(7)) and not night.contains(time(12))
    day_shift = NightHours.parse("01:00-05:30")
    assert day_shift.contains(time(5, 29)) and not day_shift.contains(time(5, 30))
    assert str(night) == "22:00-07:00"


@pytest.mark.parametrize("text", ["", "22-07", "25:00-07:00", "22:00-22:00", "22:00 07:00"])
def test_malformed_night_hours_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        NightHours.parse(text)


def test_critical_always_pages_and_warnings_only_when_the_plan_says_so() -> None:
    for night in (True, False):
        assert may_page("critical", None, night)
        assert not may_page("warning", None, night)
        assert not may_page("warning", "never", night)
        assert may_page("warning", "day_and_night", night)
    assert may_page("warning", "day", at_night=False)
    assert not may_page("warning", "day", at_night=True)
    assert not may_page("info", "day_and_night", at_night=False)


def test_duplicates_fold_within_the_window_into_an_unread_notification() -> None:
    assert fold_key("alert_critical", "p1") == "alert_critical:p1"
    assert fold_key("visit_reminder", "v1") is None and fold_key("alert_critical", None) is None
    assert fold_key("visit_changed", "v1") is None  # a cancellation is news

    def folds(**kw: object) -> bool:
        args: dict[str, object] = {"kind": "alert_critical", "existing_created_at": T0,
                                   "existing_read": False, "existing_cause_id": "a1",
                                   "cause_id": "a2", "now": T0 + timedelta(minutes=3)}
        args.update(kw)
        return folds_into(**args)  # type: ignore[arg-type]

    assert folds()
    assert folds(cause_id="a1")  # the same alert again (e.g. it became critical again)
    assert not folds(now=T0 + FOLD_WINDOW)  # the window is half-open
    assert not folds(existing_read=True)  # read: the next one is news
    assert not folds(now=T0 - timedelta(seconds=1))
    # a further escalation step of the same alert pages again; another alert folds
    assert not folds(kind="alert_escalated", cause_id="a1")
    assert folds(kind="alert_escalated", cause_id="a2")
