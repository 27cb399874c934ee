from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemed.domain.schedule import (
    MeasurementWindow,
    classify_miss,
    format_time,
    is_silent,
    measurement_windows,
    missed_windows,
    parse_time,
)

ROME = "Europe/Rome"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0,
        second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def day_windows(local_day: date, times: list[str], tolerance: int = 30,
                zone: str = ROME) -> list[MeasurementWindow]:
    """All windows due on one local date."""
    tz = ZoneInfo(zone)
    start = datetime.combine(local_day, time(0), tzinfo=tz) - timedelta(days=1)
    end = start + timedelta(days=3)
    return [w for w in measurement_windows(times, tolerance, zone, start, end)
            if w.local_date == local_day]


def test_ordinary_winter_and_summer_days() -> None:
    [winter] = day_windows(date(2025, 1, 15), ["08:00"])
    assert winter.due == utc(2025, 1, 15, 7, 0)
    assert (winter.start, winter.end) == (utc(2025, 1, 15, 6, 30), utc(2025, 1, 15, 7, 30))
    assert winter.local_time == time(8, 0)
    [summer] = day_windows(date(2025, 7, 15), ["08:00"])
    assert summer.due == utc(2025, 7, 15, 6, 0)


def test_spring_forward_day_in_rome() -> None:
    # 2024-03-31: 02:00 CET → 03:00 CEST
    windows = day_windows(date(2024, 3, 31), ["01:30", "02:30", "03:30", "08:00", "20:00"])
    assert [(format_time(w.local_time), w.due) for w in windows] == [
        ("01:30", utc(2024, 3, 31, 0, 30)),  # still CET
        ("02:30", utc(2024, 3, 31, 1, 30)),  # does not exist: same instant as 03:30 CEST
        ("03:30", utc(2024, 3, 31, 1, 30)),
        ("08:00", utc(2024, 3, 31, 6, 0)),   # CEST
        ("20:00", utc(2024, 3, 31, 18, 0)),
    ]
    for window in windows:
        assert window.end - window.start == timedelta(minutes=60)
    # the day before and after
    assert day_windows(date(2024, 3, 30), ["08:00"])[0].due == utc(2024, 3, 30, 7, 0)
    assert day_windows(date(2024, 4, 1), ["08:00"])[0].due == utc(2024, 4, 1, 6, 0)


def test_fall_back_day_in_rome() -> None:
    # 2024-10-27: 03:00 CEST → 02:00 CET; 02:30 happens twice
    windows = day_windows(date(2024, 10, 27), ["01:30", "02:30", "03:30", "08:00"])
    assert [(format_time(w.local_time), w.due) for w in windows] == [
        ("01:30", utc(2024, 10, 26, 23, 30)),
        ("02:30", utc(2024, 10, 27, 0, 30)),  # first occurrence (CEST), one window only
        ("03:30", utc(2024, 10, 27, 2, 30)),
        ("08:00", utc(2024, 10, 27, 7, 0)),
    ]
    assert day_windows(date(2024, 10, 26), ["08:00"])[0].due == utc(2024, 10, 26, 6, 0)
    assert day_windows(date(2024, 10, 28), ["08:00"])[0].due == utc(2024, 10, 28, 7, 0)


def test_one_window_per_time_and_day_across_dst_weeks() -> None:
    for start_day in (date(2024, 3, 28), date(2024, 10, 24)):
        tz = ZoneInfo(ROME)
        start = datetime.combine(start_day, time(0), tzinfo=tz)
        end = datetime.combine(start_day + timedelta(days=7), time(0), tzinfo=tz)
        windows = measurement_windows(["08:00", "20:00"], 60, ROME, start, end)
        assert len(windows) == 14
        assert len({(w.local_date, w.local_time) for w in windows}) == 14
        for w in windows:
            local_due = w.due.astimezone(tz)
            assert (local_due.date(), local_due.time()) == (w.local_date, w.local_time)


def test_range_selection_is_by_overlap() -> None:
    # window 06:30–07:30 UTC on 2025-01-15
    def count(start: datetime, end: datetime) -> int:
        return len(measurement_windows(["08:00"], 30, ROME, start, end))

    assert count(utc(2025, 1, 15, 7, 29), utc(2025, 1, 15, 8)) == 1
    assert count(utc(2025, 1, 15, 7, 30), utc(2025, 1, 15, 8)) == 0  # end exclusive
    assert count(utc(2025, 1, 15, 6), utc(2025, 1, 15, 6, 31)) == 1
    assert count(utc(2025, 1, 15, 6), utc(2025, 1, 15, 6, 30)) == 0
    assert count(utc(2025, 1, 15), utc(2025, 1, 18)) == 3


def test_window_spanning_midnight_and_wide_tolerance() -> None:
    [w] = [w for w in measurement_windows(["23:50"], 720, ROME, utc(2025, 1, 16, 10),
                                          utc(2025, 1, 16, 10, 1))]
    assert w.local_date == date(2025, 1, 15)
    assert (w.start, w.end) == (utc(2025, 1, 15, 10, 50), utc(2025, 1, 16, 10, 50))


def test_times_as_objects_and_strings_and_other_zones() -> None:
    a = measurement_windows([time(8, 0), "20:00", "08:00"], 10, "America/New_York",
                            utc(2025, 3, 9), utc(2025, 3, 10))
    # 2025-03-09 is the US spring-forward day: 20:00 EST the day before, then EDT
    assert [w.due for w in a] == [utc(2025, 3, 9, 1, 0), utc(2025, 3, 9, 12, 0),
                                  utc(2025, 3, 10, 0, 0)]
    assert [w.local_date for w in a] == [date(2025, 3, 8), date(2025, 3, 9), date(2025, 3, 9)]
    b = measurement_windows(["08:00"], 10, timezone(timedelta(hours=2)), utc(2025, 1, 1),
                            utc(2025, 1, 1, 12))
    assert [w.due for w in b] == [utc(2025, 1, 1, 6, 0)]


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        measurement_windows(["8:00"], 10, ROME, utc(2025, 1, 1), utc(2025, 1, 2))
    with pytest.raises(ValueError):
        measurement_windows(["08:00"], -1, ROME, utc(2025, 1, 1), utc(2025, 1, 2))
    with pytest.raises(ValueError):
        measurement_windows(["08:00"], 10, ROME, datetime(2025, 1, 1), utc(2025, 1, 2))
    with pytest.raises(ValueError):
        missed_windows([], [], datetime(2025, 1, 1))


def test_parse_and_format_time() -> None:
    assert parse_time("00:00") == time(0, 0)
    assert parse_time("23:59") == time(23, 59)
    for bad in ("24:00", "7:00", "07:60", "07:00:00", ""):
        assert parse_time(bad) is None
    assert format_time(time(7, 5)) == "07:05"


# --- missed measurements ---------------------------------------------------------------

WINDOWS = measurement_windows(["08:00", "20:00"], 30, ROME, utc(2025, 1, 15),
                              utc(2025, 1, 16))
MORNING, EVENING = WINDOWS  # 06:30–07:30 and 18:30–19:30 UTC


def test_missed_windows_boundaries() -> None:
    now = utc(2025, 1, 15, 23)
    assert missed_windows(WINDOWS, [], now) == WINDOWS
    assert missed_windows(WINDOWS, [utc(2025, 1, 15, 6, 30)], now) == [EVENING]  # start incl.
    assert missed_windows(WINDOWS, [utc(2025, 1, 15, 7, 29, 59)], now) == [EVENING]
    assert missed_windows(WINDOWS, [utc(2025, 1, 15, 7, 30)], now) == WINDOWS  # end excl.
    assert missed_windows(WINDOWS, [utc(2025, 1, 15, 6, 29, 59)], now) == WINDOWS
    assert missed_windows(WINDOWS, [utc(2025, 1, 15, 7), utc(2025, 1, 15, 19)], now) == []


def test_only_ended_windows_are_missed() -> None:
    assert missed_windows(WINDOWS, [], utc(2025, 1, 15, 7, 29)) == []
    assert missed_windows(WINDOWS, [], utc(2025, 1, 15, 7, 30)) == [MORNING]
    assert missed_windows(WINDOWS, [], utc(2025, 1, 15, 19, 29)) == [MORNING]


def test_reading_times_in_any_zone_and_order() -> None:
    rome = ZoneInfo(ROME)
    readings = [datetime(2025, 1, 15, 20, 5, tzinfo=rome), datetime(2025, 1, 15, 8, 20,
                                                                    tzinfo=rome)]
    assert missed_windows(WINDOWS, readings, utc(2025, 1, 16)) == []


def test_classify_miss() -> None:
    assert classify_miss(None, MORNING) == "device_offline"
    assert classify_miss(utc(2025, 1, 15, 6, 29), MORNING) == "device_offline"
    assert classify_miss(utc(2025, 1, 15, 6, 30), MORNING) == "patient_skipped"
    assert classify_miss(utc(2025, 1, 15, 7, 15), MORNING) == "patient_skipped"
    assert classify_miss(utc(2025, 1, 15, 9), MORNING) == "patient_skipped"


def test_is_silent() -> None:
    last = utc(2025, 1, 15, 8)
    assert not is_silent(last, last + timedelta(hours=24), 24)
    assert is_silent(last, last + timedelta(hours=24, seconds=1), 24)
    assert not is_silent(last, last, 1)
    assert is_silent(last, last + timedelta(minutes=31), 0.5)
    with pytest.raises(ValueError):
        is_silent(datetime(2025, 1, 1), last, 1)


@given(
    st.lists(st.integers(0, 1439), min_size=1, max_size=4, unique=True),
    st.integers(1, 120),
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31)),
    st.integers(1, 96),
    st.sampled_from([ROME, "America/New_York", "Australia/Lord_Howe", "UTC"]),
)
def test_window_properties(minutes: list[int], tolerance: int, start: datetime, hours: int,
                           zone: str) -> None:
    times = [time(m // 60, m % 60) for m in minutes]
    range_start = start.replace(tzinfo=UTC)
    range_end = range_start + timedelta(hours=hours)
    windows = measurement_windows(times, tolerance, zone, range_start, range_end)
    assert windows == sorted(windows)
    tz = ZoneInfo(zone)
    for w in windows:
        assert w.end > range_start and w.start < range_end
        assert w.end - w.start == timedelta(minutes=2 * tolerance)
        assert w.start + timedelta(minutes=tolerance) == w.due
        assert w.due.tzinfo is UTC
        local = w.due.astimezone(tz)
        wall = datetime.combine(w.local_date, w.local_time)
        exists = wall.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(
            tzinfo=None) == wall
        if exists:
            assert (local.date(), local.time()) == (w.local_date, w.local_time)
        else:  # a wall time inside a DST gap is due later by the clock
            assert local.replace(tzinfo=None) > wall
    assert len({(w.local_date, w.local_time) for w in windows}) == len(windows)
