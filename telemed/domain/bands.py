"""Alert bands of a metric and the zone a value falls in.

Bands are limits in the metric's canonical unit::

    critical_low < warning_low <= normal <= warning_high < critical_high

Any limit may be absent. The normal band includes its limits: a reading is in a
warning or critical zone only when it is strictly beyond the limit (``warning_low=70``
means "warning below 70"; 70 itself is normal). Without warning limits, the critical
limits bound the normal band directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Severity = Literal["warning", "critical"]
Zone = Literal["normal", "warning_low", "warning_high", "critical_low", "critical_high"]

BAND_KEYS: tuple[str, ...] = ("critical_low", "warning_low", "warning_high", "critical_high")
SEVERITY_RANK: dict[Severity | None, int] = {None: 0, "warning": 1, "critical": 2}


@dataclass(frozen=True, slots=True)
class Bands:
    """Alert limits of one metric, in its canonical unit (``None`` = no limit)."""

    critical_low: float | None = None
    warning_low: float | None = None
    warning_high: float | None = None
    critical_high: float | None = None

    @property
    def is_empty(self) -> bool:
        """True when no limit is set (no threshold alert is possible)."""
        return all(getattr(self, key) is None for key in BAND_KEYS)

    @property
    def normal_low(self) -> float | None:
        """Lowest normal value: ``warning_low``, else ``critical_low``."""
        return self.warning_low if self.warning_low is not None else self.critical_low

    @property
    def normal_high(self) -> float | None:
        """Highest normal value: ``warning_high``, else ``critical_high``."""
        return self.warning_high if self.warning_high is not None else self.critical_high

    def to_dict(self) -> dict[str, float]:
        """Present limits only, JSON-friendly."""
        return {key: value for key in BAND_KEYS if (value := getattr(self, key)) is not None}

    def order_problems(self) -> list[tuple[str, str]]:
        """Pairs ``(lower_key, upper_key)`` of present limits that break the ordering."""
        problems: list[tuple[str, str]] = []
        present = [(key, getattr(self, key)) for key in BAND_KEYS]
        for i, (low_key, low) in enumerate(present):
            for high_key, high in present[i + 1 :]:
                if low is None or high is None:
                    continue
                equal_allowed = (low_key, high_key) == ("warning_low", "warning_high")
                if low > high or (low == high and not equal_allowed):
                    problems.append((low_key, high_key))
        return problems


def classify(value: float, bands: Bands) -> Zone:
    """The zone of ``value``: normal, or the warning/critical side it is beyond."""
    if math.isnan(value):
        raise ValueError("cannot classify NaN")
    if bands.critical_low is not None and value < bands.critical_low:
        return "critical_low"
    if bands.critical_high is not None and value > bands.critical_high:
        return "critical_high"
    if bands.warning_low is not None and value < bands.warning_low:
        return "warning_low"
    if bands.warning_high is not None and value > bands.warning_high:
        return "warning_high"
    return "normal"


def severity_of(zone: Zone) -> Severity | None:
    """``warning``/``critical`` for an out-of-band zone, ``None`` for normal."""
    if zone == "normal":
        return None
    return "critical" if zone.startswith("critical") else "warning"


def is_worse(a: Severity | None, b: Severity | None) -> bool:
    """True when severity ``a`` is strictly worse than ``b``."""
    return SEVERITY_RANK[a] > SEVERITY_RANK[b]
