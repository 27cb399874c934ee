"""Trend rules (docs/telemonitoring.md, "Rules"): a change of at least ``delta`` within
``window_hours``.

The sign of ``delta`` matters: ``+2`` (kg) is a gain of two or more, ``-3`` a loss of three
or more. A pair counts when the earlier reading is strictly earlier and at most
``window_hours`` before the later one. Readings may arrive in any order (late readings):
they are sorted by time first. Sliding-window minimum (a monotonic deque): O(n log n).
Comparisons allow a relative tolerance of 1e-9 so that 71.3 − 69.3 counts as 2.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

_TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class TrendHit:
    """The pair of readings with the largest change in the rule's direction."""

    start_time: datetime
    start_value: float
    end_time: datetime
    end_value: float

    @property
    def change(self) -> float:
        return self.end_value - self.start_value

    @property
    def hours(self) -> float:
        return (self.end_time - self.start_time).total_seconds() / 3600


def evaluate_trend(
    readings: Iterable[tuple[datetime, float]],
    delta: float,
    window_hours: float,
    *,
    ending_after: datetime | None = None,
) -> TrendHit | None:
    """The strongest qualifying pair, or ``None`` when the trend is not met.

    With ``ending_after``, only pairs whose later reading is at or after that time count
    (so a rule re-evaluated on new readings does not fire again for an old pair).
    """
    if not math.isfinite(delta) or delta == 0:
        raise ValueError("delta must be a finite non-zero number")
    if not math.isfinite(window_hours) or window_hours <= 0:
        raise ValueError("window_hours must be a positive number")
    window = timedelta(hours=window_hours)
    sign = 1.0 if delta > 0 else -1.0
    threshold = abs(delta) * (1 - _TOLERANCE)
    ordered = sorted(readings, key=lambda r: r[0])
    if any(not math.isfinite(value) for _, value in ordered):
        raise ValueError("reading values must be finite")

    # Candidates strictly earlier than the current time, values (times sign) increasing:
    # the front is the minimum of sign*value within the window.
    candidates: deque[tuple[datetime, float]] = deque()
    best: TrendHit | None = None
    best_change = -math.inf
    i = 0
    while i < len(ordered):
        at = ordered[i][0]
        group_end = i
        while group_end < len(ordered) and ordered[group_end][0] == at:
            group_end += 1
        while candidates and at - candidates[0][0] > window:
            candidates.popleft()
        if candidates and (ending_after is None or at >= ending_after):
            start_time, start_value = candidates[0]
            for _, value in ordered[i:group_end]:
                change = sign * (value - start_value)
                if change >= threshold and change >= best_change:
                    best_change = change
                    best = TrendHit(start_time, start_value, at, value)
        for reading in ordered[i:group_end]:
            while candidates and sign * candidates[-1][1] >= sign * reading[1]:
                candidates.pop()
            candidates.append(reading)
        i = group_end
    return best
