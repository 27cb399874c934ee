"""Scheduled measurement windows in the patient's time zone, and missed measurements.

A measurement scheduled at local time ``T`` on local date ``D`` is due at ``D T`` in the
patient's IANA zone and accepted within ``due ± tolerance`` (a half-open interval
``[start, end)``, measured in real elapsed time, so a window is as long on a DST change
day as on any other). On the spring-forward day a time inside the gap (02:30 in
Europe/Rome) is due one hour later by the clock (03:30 CEST, the same instant as 02:30 CET
would have been), so it coincides with a time scheduled one hour after it; on the fall-back
day an ambiguous time is due at its first occurrence. There is exactly one window per
scheduled time and local date.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo

MissReason = Literal["device_offline", "patient_skipped"]

_TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def format_time(t: time) -> str:
    """``HH:MM``."""
    return f"{t.hour:02d}:{t.minute:02d}"


def parse_time(text: str) -> time | None:
    """``HH:MM`` (00:00–23:59) as a time, or ``None`` when malformed."""
    match = _TIME_RE.match(text)
    return time(int(match[1]), int(match[2])) if match else None


@dataclass(frozen=True, slots=True, order=True)
class MeasurementWindow:
    """One scheduled measurement: accepted from ``start`` (inclusive) to ``end`` (exclusive)."""

    due: datetime
    start: datetime
    end: datetime
    local_date: date
    local_time: time

    def contains(self, at: datetime) -> bool:
        return self.start <= at < self.end


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC)


def _as_time(value: time | str) -> time:
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0, tzinfo=None)
    parsed = parse_time(value)
    if parsed is None:
        raise ValueError(f"not a HH:MM time: {value!r}")
    return parsed


def measurement_windows(
    times: Iterable[time | str],
    tolerance_minutes: int,
    timezone: str | tzinfo,
    start: datetime,
    end: datetime,
) -> list[MeasurementWindow]:
    """The windows overlapping ``[start, end)``, ordered by due time (UTC datetimes)."""
    if tolerance_minutes < 0:
        raise ValueError("tolerance_minutes must not be negative")
    zone = ZoneInfo(timezone) if isinstance(timezone, str) else timezone
    range_start, range_end = _aware(start, "start"), _aware(end, "end")
    local_times = sorted({_as_time(t) for t in times})
    tolerance = timedelta(minutes=tolerance_minutes)
    windows: list[MeasurementWindow] = []
    day = range_start.astimezone(zone).date() - timedelta(days=1)
    last_day = range_end.astimezone(zone).date() + timedelta(days=1)
    while day <= last_day:
        for local_time in local_times:
            due = datetime.combine(day, local_time, tzinfo=zone).astimezone(UTC)
            window = MeasurementWindow(due, due - tolerance, due + tolerance, day, local_time)
            if window.end > range_start and window.start < range_end:
                windows.append(window)
        day += timedelta(days=1)
    return sorted(windows)


def missed_windows(
    windows: Iterable[MeasurementWindow], reading_times: Iterable[datetime], now: datetime
) -> list[MeasurementWindow]:
    """Windows that have ended by ``now`` without any reading inside them."""
    current = _aware(now, "now")
    ordered = sorted(_aware(t, "reading time") for t in reading_times)
    missed: list[MeasurementWindow] = []
    for window in windows:
        if window.end > current:
            continue
        i = bisect_left(ordered, window.start)
        if i == len(ordered) or ordered[i] >= window.end:
            missed.append(window)
    return missed


def classify_miss(device_last_seen: datetime | None, window: MeasurementWindow) -> MissReason:
    """``device_offline`` when the device sent nothing since before the window opened,
    else ``patient_skipped`` (the device was up, nobody measured)."""
    if device_last_seen is None or _aware(device_last_seen, "device_last_seen") < window.start:
        return "device_offline"
    return "patient_skipped"


def is_silent(last_seen: datetime, now: datetime, silence_hours: float) -> bool:
    """True when nothing was heard for more than ``silence_hours``."""
    return _aware(now, "now") - _aware(last_seen, "last_seen") > timedelta(hours=silence_hours)

