"""What a person at home is told about their own record, as codes and parameters.

Pure functions of their arguments (the clock is an argument). The wording lives at the edge:
each ``PlainMessage`` is a code and its parameters, translated by the page
(`telemed.views.my_record`). Nothing here alarms: a reading outside the usual range is
"outside your usual range", and whether the care team was told is said plainly.

- ``due_today``: the measurements of the plan's schedule on the patient's local day, each
  ``received`` (a reading inside its window), ``late`` (none inside it, but one later the
  same day that no later window of the metric holds), ``missing`` (the window closed without one),
  ``now`` (open, nothing yet) or ``later`` (not open yet).
- ``metric_summary``: one sentence per monitored metric; for body weight the change over the
  period (first to last reading), else where the latest reading lies against the bands the
  team uses.
- ``alert_message``: an alert of the patient's, in plain words by kind.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from telemed.domain.bands import Bands
from telemed.domain.schedule import MeasurementWindow, measurement_windows

DueStatus = Literal["received", "late", "missing", "now", "later"]

# Below this change (canonical unit) a weight is "about the same".
STEADY_WEIGHT_KG = 0.5


@dataclass(frozen=True, slots=True)
class PlainMessage:
    """A sentence for the patient: a code and the parameters its wording needs."""

    code: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ScheduledMetric:
    """A metric the plan schedules at fixed local times."""

    metric: str
    times: tuple[time, ...]
    tolerance_minutes: int


@dataclass(frozen=True, slots=True)
class DueItem:
    """One measurement of today: its window, and what became of it."""

    metric: str
    window: MeasurementWindow
    status: DueStatus
    reading_time: datetime | None = None


def due_today(
    schedule: Sequence[ScheduledMetric],
    readings: Mapping[str, Sequence[datetime]],
    timezone: str,
    now: datetime,
) -> list[DueItem]:
    """Today's (local day of ``now`` in ``timezone``) measurements, in time order."""
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    start = datetime.combine(today, time(), zone)
    end = datetime.combine(today + timedelta(days=1), time(), zone)
    items: list[DueItem] = []
    for entry in schedule:
        times = sorted(readings.get(entry.metric, ()))
        windows = [w for w in measurement_windows(entry.times, entry.tolerance_minutes, zone,
                                                  start, end) if w.local_date == today]
        for n, window in enumerate(windows):
            i = bisect_left(times, window.start)
            hit = times[i] if i < len(times) and times[i] < window.end else None
            status: DueStatus
            if hit is not None:
                status = "received"
            elif window.end <= now:
                status = "missing"
                j = bisect_left(times, window.end)
                later = times[j] if j < len(times) and times[j] < end else None
                if later is not None and not any(w.contains(later) for w in windows[n + 1:]):
                    status, hit = "late", later
            elif window.start <= now:
                status = "now"
            else:
                status = "later"
            items.append(DueItem(entry.metric, window, status, hit))
    return sorted(items, key=lambda item: (item.window.due, item.metric))


def _zone(value: float, bands: Bands) -> Literal["low", "high", "usual"]:
    low = bands.warning_low if bands.warning_low is not None else bands.critical_low
    high = bands.warning_high if bands.warning_high is not None else bands.critical_high
    if low is not None and value < low:
        return "low"
    if high is not None and value > high:
        return "high"
    return "usual"


def metric_summary(
    metric: str,
    readings: Sequence[tuple[datetime, float]],
    bands: Bands,
    *,
    told: bool,
    decimals: int = 1,
) -> PlainMessage:
    """One metric over the period (``readings`` in any order), in words.

    Codes: ``no_readings``; for ``body_weight`` ``weight_up`` / ``weight_down`` (params
    ``delta``) or ``weight_steady``; for the others ``usual_range``, ``above_usual`` or
    ``below_usual`` (params ``value``). Every code but ``no_readings`` has ``told``: whether
    the care team has an open alert about it.
    """
    if not readings:
        return PlainMessage("no_readings", {"metric": metric})
    ordered = sorted(readings)
    last = ordered[-1][1]
    if metric == "body_weight":
        delta = round(last - ordered[0][1], decimals)
        if abs(delta) < STEADY_WEIGHT_KG:
            return PlainMessage("weight_steady", {"metric": metric, "told": told})
        code = "weight_up" if delta > 0 else "weight_down"
        return PlainMessage(code, {"metric": metric, "delta": abs(delta), "told": told})
    zone = _zone(last, bands)
    code = {"usual": "usual_range", "high": "above_usual", "low": "below_usual"}[zone]
    return PlainMessage(code, {"metric": metric, "value": round(last, decimals),
                               "told": told})


_ALERT_CODES = {
    "threshold": "alert_reading_outside",
    "trend": "alert_change",
    "news2": "alert_readings_together",
    "missed_measurement": "alert_missed",
    "device_silent": "alert_device_quiet",
    "questionnaire": "alert_answers",
}


def alert_message(kind: str, metric: str | None, *, acknowledged: bool) -> PlainMessage:
    """An alert of the patient's in plain, calm words (``acknowledged``: someone of the team
    has already looked at it)."""
    code = _ALERT_CODES.get(kind, "alert_other")
    return PlainMessage(code, {"metric": metric, "seen": acknowledged})
