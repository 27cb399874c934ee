"""Slots from weekly availability: local time, days off, DST, free slots, ids, cut-off."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from telemed.domain import booking as rules

ROME = "Europe/Rome"
MONDAY_MORNING = rules.WeeklyRule(0, time(9), time(10), 20, "televisit")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_a_morning_in_winter_is_three_slots_at_local_time() -> None:
    # Monday 12 January 2026; Rome is UTC+1 in winter.
    slots = rules.candidate_slots([MONDAY_MORNING], [], ROME, utc(2026, 1, 12), utc(2026, 1, 13))
    assert [s.start for s in slots] == [utc(2026, 1, 12, 8), utc(2026, 1, 12, 8, 20),
                                        utc(2026, 1, 12, 8, 40)]
    assert all(s.end - s.start == timedelta(minutes=20) for s in slots)
    assert {s.kind for s in slots} == {"televisit"}


def test_the_clock_time_stays_across_dst() -> None:
    # Mondays 23 March (CET, UTC+1) and 30 March 2026 (CEST, UTC+2): 09:00 local both times.
    slots = rules.candidate_slots([MONDAY_MORNING], [], ROME, utc(2026, 3, 23), utc(2026, 3, 31))
    firsts = [s.start for s in slots if s.start.minute == 0]
    assert firsts == [utc(2026, 3, 23, 8), utc(2026, 3, 30, 7)]


def test_spring_forward_gap_gives_no_slot() -> None:
    # Sunday 29 March 2026: 02:00–02:59 does not exist in Rome.
    night = rules.WeeklyRule(6, time(1), time(4), 30, "televisit")
    slots = rules.candidate_slots([night], [], ROME, utc(2026, 3, 28), utc(2026, 3, 30))
    local = [s.start.astimezone(ZoneInfo(ROME)).strftime("%H:%M") for s in slots]
    assert local == ["01:00", "01:30", "03:00", "03:30"]
    assert len({s.start for s in slots}) == len(slots)


def test_fall_back_ambiguous_hour_gives_one_slot_each() -> None:
    # Sunday 25 October 2026: 02:00–02:59 happens twice; each start once, the first time.
    night = rules.WeeklyRule(6, time(2), time(3), 30, "televisit")
    slots = rules.candidate_slots([night], [], ROME, utc(2026, 10, 24), utc(2026, 10, 26))
    assert [s.start for s in slots] == [utc(2026, 10, 25, 0), utc(2026, 10, 25, 0, 30)]


def test_days_off_are_left_out() -> None:
    off = rules.DayOff(date(2026, 1, 12), date(2026, 1, 12))
    slots = rules.candidate_slots([MONDAY_MORNING], [off], ROME, utc(2026, 1, 12), utc(2026, 1, 20))
    assert {s.start.date() for s in slots} == {date(2026, 1, 19)}


def test_a_slot_must_fit_before_the_end() -> None:
    rule = rules.WeeklyRule(0, time(9), time(9, 50), 20, "televisit")
    slots = rules.candidate_slots([rule], [], ROME, utc(2026, 1, 12), utc(2026, 1, 13))
    assert len(slots) == 2


def test_range_is_half_open_on_start() -> None:
    slots = rules.candidate_slots([MONDAY_MORNING], [], ROME, utc(2026, 1, 12, 8, 20),
                                  utc(2026, 1, 12, 8, 40))
    assert [s.start for s in slots] == [utc(2026, 1, 12, 8, 20)]


def test_naive_range_is_refused() -> None:
    with pytest.raises(ValueError):
        rules.candidate_slots([MONDAY_MORNING], [], ROME, datetime(2026, 1, 12),
                              utc(2026, 1, 13))


def test_free_slots_leave_out_booked_busy_and_too_soon() -> None:
    slots = rules.candidate_slots([MONDAY_MORNING], [], ROME, utc(2026, 1, 12), utc(2026, 1, 13))
    first, second, third = slots
    assert rules.free_slots(slots, booked=[second.start], busy=[], not_before=first.start) \
        == [first, third]
    busy = [(utc(2026, 1, 12, 8, 50), utc(2026, 1, 12, 9, 30))]
    assert rules.free_slots(slots, booked=[], busy=busy, not_before=first.start) \
        == [first, second]
    assert rules.free_slots(slots, booked=[], busy=[], not_before=second.start) \
        == [second, third]


def test_slot_id_round_trip() -> None:
    start = datetime(2026, 3, 30, 9, 20, tzinfo=ZoneInfo(ROME))
    ident = rules.slot_id("ab12", start)
    assert ident == "ab12-202603300720"
    assert rules.parse_slot_id(ident) == ("ab12", start.astimezone(UTC))


@pytest.mark.parametrize("text", ["", "ab12", "ab12-2026033007", "AB12-202603300720",
                                  "ab12-202613300720", "../x-202603300720", "ab12-2026033007200"])
def test_bad_slot_ids(text: str) -> None:
    assert rules.parse_slot_id(text) is None


def test_rule_errors() -> None:
    assert rules.rule_errors(0, "09:00", "12:00", 20, "televisit") == {}
    errors = rules.rule_errors(7, "9:00", "25:00", 3, "teleconsult")
    assert set(errors) == {"weekday", "start", "end", "slot_minutes", "kind"}
    assert set(rules.rule_errors(0, "09:00", "09:10", 20, "televisit")) == {"end"}
    assert set(rules.rule_errors(0, "10:00", "09:00", 20, "televisit")) == {"end"}


def test_overlaps_same_weekday_only() -> None:
    later = rules.WeeklyRule(0, time(9, 40), time(11), 20, "televisit")
    after = rules.WeeklyRule(0, time(10), time(11), 20, "televisit")
    tuesday = rules.WeeklyRule(1, time(9), time(10), 20, "televisit")
    assert rules.overlaps(later, [MONDAY_MORNING])
    assert not rules.overlaps(after, [MONDAY_MORNING])
    assert not rules.overlaps(tuesday, [MONDAY_MORNING])


def test_may_change_until_the_cutoff() -> None:
    start = utc(2026, 1, 12, 8)
    day = timedelta(hours=24)
    assert rules.may_change(start, start - day, day)
    assert not rules.may_change(start, start - day + timedelta(seconds=1), day)
    assert rules.may_change(start, start, timedelta(0))


@pytest.mark.parametrize(("status", "before_start", "clinician", "refusal"), [
    ("scheduled", timedelta(hours=25), False, None),
    ("waiting", timedelta(hours=24), False, None),
    ("scheduled", timedelta(hours=23), False, "past_cutoff"),
    ("scheduled", timedelta(hours=1), True, None),  # a clinician: until it starts
    ("in_progress", timedelta(hours=30), True, "visit_not_cancellable"),
    ("completed", timedelta(hours=30), False, "visit_not_cancellable"),
    ("cancelled", timedelta(hours=30), True, "visit_not_cancellable"),
])
def test_cancel_refusal(status: str, before_start: timedelta, clinician: bool,
                        refusal: str | None) -> None:
    start = utc(2026, 1, 12, 8)
    assert rules.cancel_refusal(status, start, start - before_start, timedelta(hours=24),
                                clinician=clinician) == refusal
