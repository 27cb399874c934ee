"""National Early Warning Score 2 (Royal College of Physicians, 2017, charts 1 and 2).

Each parameter is scored with ordered cut-offs, extremes first: low-side rows use ``≤`` the
row's upper value, high-side rows ``≥`` the row's lower value, and whatever is left scores 0.
A value between chart rows (35.05 °C, a respiration rate of 8.5) therefore takes the score
of the milder neighbouring row. Not valid under 16 years of age or in pregnancy.

Vitals are keyed by Telemed metric names, in canonical units: ``resp_rate`` (/min), ``spo2``
(%), ``bp_systolic`` (mm[Hg]), ``heart_rate`` (/min), ``body_temp`` (Cel).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from telemed.domain.bands import Severity

Consciousness = Literal["alert", "new_confusion", "voice", "pain", "unresponsive"]
Risk = Literal["low", "low_medium", "medium", "high"]

NEWS2_METRICS: tuple[str, ...] = ("resp_rate", "spo2", "bp_systolic", "heart_rate", "body_temp")
PARAMETERS: tuple[str, ...] = ("resp_rate", "spo2", "air_or_oxygen", "bp_systolic",
                               "heart_rate", "consciousness", "body_temp")
CONSCIOUSNESS_LEVELS: tuple[str, ...] = ("alert", "new_confusion", "voice", "pain",
                                         "unresponsive")

# (upper bound inclusive, score), checked in order: the extreme low rows.
_LOW: dict[str, tuple[tuple[float, int], ...]] = {
    "resp_rate": ((8, 3), (11, 1)),
    "bp_systolic": ((90, 3), (100, 2), (110, 1)),
    "heart_rate": ((40, 3), (50, 1)),
    "body_temp": ((35.0, 3), (36.0, 1)),
    "spo2_scale1": ((91, 3), (93, 2), (95, 1)),
    "spo2_scale2": ((83, 3), (85, 2), (87, 1)),
}
# (lower bound inclusive, score), checked in order: the extreme high rows.
_HIGH: dict[str, tuple[tuple[float, int], ...]] = {
    "resp_rate": ((25, 3), (21, 2)),
    "bp_systolic": ((220, 3),),
    "heart_rate": ((131, 3), (111, 2), (91, 1)),
    "body_temp": ((39.1, 2), (38.1, 1)),
    "spo2_scale1": (),
    "spo2_scale2_oxygen": ((97, 3), (95, 2), (93, 1)),
}


@dataclass(frozen=True, slots=True)
class News2Result:
    """Total, per-parameter scores (keys of ``PARAMETERS``), highest single score, risk."""

    total: int
    per_parameter: Mapping[str, int]
    max_single: int
    risk: Risk


def _cutoffs(value: float, low_key: str, high_key: str) -> int:
    for bound, points in _LOW[low_key]:
        if value <= bound:
            return points
    for bound, points in _HIGH.get(high_key, ()):
        if value >= bound:
            return points
    return 0


def parameter_score(metric: str, value: float, *, spo2_scale: int = 1,
                    on_oxygen: bool = False) -> int:
    """The NEWS2 points of one vital sign (``metric`` one of ``NEWS2_METRICS``)."""
    if not math.isfinite(value):
        raise ValueError(f"{metric} must be a finite number, got {value!r}")
    if metric == "spo2":
        if spo2_scale == 1:
            return _cutoffs(value, "spo2_scale1", "spo2_scale1")
        if spo2_scale == 2:
            high = "spo2_scale2_oxygen" if on_oxygen else ""
            return _cutoffs(value, "spo2_scale2", high)
        raise ValueError(f"spo2_scale must be 1 or 2, got {spo2_scale!r}")
    if metric not in _LOW:
        raise ValueError(f"{metric!r} is not a NEWS2 parameter")
    return _cutoffs(value, metric, metric)


def risk_of(total: int, max_single: int) -> Risk:
    """Clinical risk: ≥7 high, 5–6 medium, a 3 in any parameter low–medium, else low."""
    if total >= 7:
        return "high"
    if total >= 5:
        return "medium"
    if max_single >= 3:
        return "low_medium"
    return "low"


def score(
    vitals: Mapping[str, float],
    *,
    spo2_scale: Literal[1, 2] = 1,
    on_oxygen: bool = False,
    consciousness: Consciousness = "alert",
) -> News2Result:
    """NEWS2 of one set of observations; every metric of ``NEWS2_METRICS`` is required.

    Raises ``ValueError`` when a vital is missing or not finite, or an option is invalid.
    """
    missing = [m for m in NEWS2_METRICS if m not in vitals]
    if missing:
        raise ValueError(f"NEWS2 needs {', '.join(missing)}")
    if consciousness not in CONSCIOUSNESS_LEVELS:
        raise ValueError(f"unknown consciousness level {consciousness!r}")
    per = {
        "resp_rate": parameter_score("resp_rate", vitals["resp_rate"]),
        "spo2": parameter_score("spo2", vitals["spo2"], spo2_scale=spo2_scale,
                                on_oxygen=on_oxygen),
        "air_or_oxygen": 2 if on_oxygen else 0,
        "bp_systolic": parameter_score("bp_systolic", vitals["bp_systolic"]),
        "heart_rate": parameter_score("heart_rate", vitals["heart_rate"]),
        "consciousness": 0 if consciousness == "alert" else 3,
        "body_temp": parameter_score("body_temp", vitals["body_temp"]),
    }
    total = sum(per.values())
    max_single = max(per.values())
    return News2Result(total, MappingProxyType(per), max_single, risk_of(total, max_single))


def alert_severity(result: News2Result) -> Severity | None:
    """Total ≥7 critical; total 5–6 or a 3 in any parameter warning (docs/telemonitoring.md)."""
    if result.total >= 7:
        return "critical"
    if result.total >= 5 or result.max_single >= 3:
        return "warning"
    return None
