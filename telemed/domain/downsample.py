"""Downsampling readings for charts: per-bucket min, max, mean and count.

A chart of 30 days of one-per-minute readings cannot draw 43,200 points per series, and must
not draw only the newest thousand either. The period is cut into equal time buckets of a
"nice" width (1, 2, 5, 10, 15, 30 min, 1, 2, 3, 6, 12 h, ...), aligned on the Unix epoch so
the same reading falls in the same bucket on every request; each bucket keeps its count, its
minimum and maximum (so a spike or a dip is never averaged away) and its mean. Buckets
without readings are left out: a gap in the data stays a gap on the chart.

The rule is here, pure; ``telemed.services.observations`` computes the same buckets in SQL
(``GROUP BY`` the bucket number) and tests check one against the other.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_POINTS = 300
MIN_POINTS = 10
MAX_POINTS = 1000
# Bucket widths in seconds, smallest first.
NICE_WIDTHS: tuple[int, ...] = (
    1, 2, 5, 10, 15, 30,
    60, 2 * 60, 5 * 60, 10 * 60, 15 * 60, 20 * 60, 30 * 60,
    3600, 2 * 3600, 3 * 3600, 4 * 3600, 6 * 3600, 8 * 3600, 12 * 3600,
    86400, 2 * 86400, 7 * 86400, 14 * 86400, 28 * 86400,
)


@dataclass(frozen=True, slots=True)
class Bucket:
    """The readings of one metric in ``[start, start + width)``."""

    start: datetime
    count: int
    min: float
    max: float
    mean: float
    first: datetime  # time of the bucket's earliest reading
    last: datetime  # time of its latest reading


def bucket_width(since: datetime, until: datetime, points: int = DEFAULT_POINTS) -> int:
    """The smallest nice width (seconds) that cuts ``[since, until)`` into at most ``points``
    buckets, one more at most where the epoch-aligned edges fall inside the period."""
    if until <= since:
        raise ValueError("until must be after since")
    if points < 1:
        raise ValueError("points must be positive")
    span = (until - since).total_seconds()
    for width in NICE_WIDTHS:
        if span / width <= points:
            return width
    return max(NICE_WIDTHS[-1], int(-(-span // points)))


def epoch_seconds(when: datetime) -> int:
    """Whole seconds since the epoch (floor), the way both databases compute it."""
    if when.tzinfo is None:
        raise ValueError("naive datetime")
    delta = when - EPOCH
    return delta.days * 86400 + delta.seconds


def bucket_number(when: datetime, width: int) -> int:
    """Which bucket of ``width`` seconds ``when`` falls in (a bucket includes its start)."""
    return epoch_seconds(when) // width


def bucket_start(number: int, width: int) -> datetime:
    return EPOCH + timedelta(seconds=number * width)


def downsample(readings: Iterable[tuple[datetime, float]], width: int) -> list[Bucket]:
    """Buckets of ``width`` seconds of ``(time, value)`` readings, oldest first; empty
    buckets are left out. The readings may come in any order."""
    if width < 1:
        raise ValueError("width must be at least one second")
    acc: dict[int, list[float]] = {}  # number -> [count, min, max, sum]
    times: dict[int, tuple[datetime, datetime]] = {}
    for when, value in readings:
        number = bucket_number(when, width)
        found = acc.get(number)
        if found is None:
            acc[number] = [1.0, value, value, value]
            times[number] = (when, when)
            continue
        found[0] += 1
        found[1] = min(found[1], value)
        found[2] = max(found[2], value)
        found[3] += value
        first, last = times[number]
        times[number] = (min(first, when), max(last, when))
    return [
        Bucket(start=bucket_start(number, width), count=int(count), min=low, max=high,
               mean=total / count, first=times[number][0], last=times[number][1])
        for number, (count, low, high, total) in sorted(acc.items())
    ]


def from_aggregates(number: int, width: int, count: int, low: float, high: float,
                    total: float, first: datetime, last: datetime) -> Bucket:
    """A bucket from the aggregates a database computed for bucket ``number``."""
    return Bucket(start=bucket_start(number, width), count=count, min=low, max=high,
                  mean=total / count, first=first, last=last)
