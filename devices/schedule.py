"""When a simulated device measures, following the `config` its platform publishes.

The config is the retained message on `telemed/v1/devices/{id}/config`:
`{"timezone": "Europe/Rome", "measurements": [{"metric", "times": ["08:00"],
"tolerance_minutes": 60} | {"metric", "continuous": true}], ...}`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@dataclass(frozen=True)
class Session:
    """A measurement due at `at` of some metrics."""

    at: datetime
    metrics: tuple[str, ...]


def _zone(config: dict[str, Any], default: str) -> ZoneInfo:
    try:
        return ZoneInfo(str(config.get("timezone") or default))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(default)


def _times(entry: dict[str, Any]) -> list[time]:
    out = []
    for text in entry.get("times") or []:
        try:
            out.append(time.fromisoformat(str(text)))
        except ValueError:
            continue
    return out


def next_session(config: dict[str, Any] | None, after: datetime, *, seed: int = 0,
                 continuous_every: timedelta = timedelta(minutes=5),
                 skip_probability: float = 0.0,
                 timezone: str = "Europe/Rome") -> Session | None:
    """The first measurement strictly after `after` that the config asks for, or None.

    Timed measurements land within the first half of their tolerance window, jittered the
    same way for every metric of a slot (so they form one session) and deterministically
    for a given `seed`; with `skip_probability` a patient sometimes forgets a slot (the
    platform then raises a missed-measurement alert).
    """
    if not config or not isinstance(config.get("measurements"), list):
        return None
    zone = _zone(config, timezone)
    candidates: dict[datetime, list[str]] = {}
    local_day = after.astimezone(zone).date()
    for entry in config["measurements"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("metric"), str):
            continue
        metric = entry["metric"]
        if entry.get("continuous"):
            step = continuous_every.total_seconds()
            slot = (int(after.timestamp() // step) + 1) * step
            at = datetime.fromtimestamp(slot, after.tzinfo)
            candidates.setdefault(at, []).append(metric)
            continue
        tolerance = float(entry.get("tolerance_minutes") or 30)
        for offset in (0, 1, 2):
            day: date = local_day + timedelta(days=offset)
            for moment in _times(entry):
                due = datetime.combine(day, moment, zone)
                slot_rng = random.Random(f"{seed}:{due.isoformat()}")
                if skip_probability and slot_rng.random() < skip_probability:
                    continue
                due += timedelta(minutes=slot_rng.uniform(0.0, 0.5) * tolerance)
                if due > after:
                    candidates.setdefault(due.astimezone(after.tzinfo), []).append(metric)
    if not candidates:
        return None
    first = min(candidates)
    return Session(first, tuple(dict.fromkeys(candidates[first])))
