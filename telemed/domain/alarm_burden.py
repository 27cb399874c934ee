"""Alarm burden (docs/notifications.md, "Alarm burden"): the statistics, as pure functions.

Definitions, so that a team compares like with like:

- **median**: the middle value of the sorted sample; for an even count, the mean of the two
  middle values (the textbook definition, e.g. NIST/SEMATECH e-Handbook §1.3.5.1);
- **p90**: the 90th percentile by the *nearest-rank* method (Wikipedia "Percentile",
  nearest-rank: the value at rank ``ceil(0.90 × n)`` of the sorted sample), so it is always a
  time that really happened: "90 % of the alerts were acknowledged within p90";
- **alerts per patient-week**: alerts opened in the period ÷ (patients × period days ÷ 7);
- **auto-recovered**: the share of alerts whose condition cleared (``recovered_at``) before
  anyone acknowledged or resolved them;
- **time to acknowledge**: ``acknowledged_at − opened_at`` of the alerts acknowledged; **time
  to resolve**: ``resolved_at − opened_at`` of the alerts resolved;
- **escalations**: escalation steps taken (each step may notify several people);
- **notifications per nurse per shift**: notifications recorded for the team's nurses ÷
  (nurses × shifts in the period), a shift being ``SHIFT_HOURS`` hours.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

SHIFT_HOURS: Final = 8
DEFAULT_DAYS: Final = 7
MAX_DAYS: Final = 92


def median(values: Sequence[float]) -> float | None:
    """The median of ``values`` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    lo, hi = median_ranks(len(ordered))
    return (ordered[lo] + ordered[hi]) / 2


def nearest_rank(values: Sequence[float], percent: float) -> float | None:
    """The ``percent``-th percentile by the nearest-rank method (None when empty)."""
    if not 0 < percent <= 100:
        raise ValueError("percent must be in (0, 100]")
    if not values:
        return None
    return float(sorted(values)[nearest_rank_index(len(values), percent)])


def median_ranks(n: int) -> tuple[int, int]:
    """The 0-based positions in a sorted sample of ``n`` whose mean is the median (the same
    position twice for an odd ``n``): a database sorts, this says where to look."""
    if n <= 0:
        raise ValueError("an empty sample has no median")
    return ((n - 1) // 2, n // 2)


def nearest_rank_index(n: int, percent: float) -> int:
    """The 0-based position of the ``percent``-th percentile (nearest rank) in a sorted
    sample of ``n``."""
    if n <= 0 or not 0 < percent <= 100:
        raise ValueError("need a sample and a percent in (0, 100]")
    return max(math.ceil(percent / 100 * n), 1) - 1


def p90(values: Sequence[float]) -> float | None:
    """The 90th percentile (nearest rank)."""
    return nearest_rank(values, 90)


def per_patient_week(alerts: int, patients: int, days: float) -> float | None:
    """Alerts per patient-week (None without patients or time)."""
    if patients <= 0 or days <= 0:
        return None
    return alerts / (patients * days / 7)


def share(part: int, whole: int) -> float | None:
    """``part / whole`` (None when there is nothing to share)."""
    return part / whole if whole > 0 else None


def per_nurse_shift(notifications: int, nurses: int, period: timedelta) -> float | None:
    """Notifications per nurse per shift of ``SHIFT_HOURS`` hours."""
    shifts = period / timedelta(hours=SHIFT_HOURS)
    if nurses <= 0 or shifts <= 0:
        return None
    return notifications / (nurses * shifts)


@dataclass(frozen=True, slots=True)
class Counts:
    """What SQL counted for one patient or one team over a period."""

    patients: int = 0
    alerts: int = 0
    critical: int = 0
    auto_recovered: int = 0
    escalations: int = 0
    escalated_alerts: int = 0


@dataclass(frozen=True, slots=True)
class Burden:
    """The alarm burden of a team or a patient over a period."""

    patients: int
    days: float
    alerts: int
    critical: int
    alerts_per_patient_week: float | None
    auto_recovered_share: float | None
    ack_median_s: float | None
    ack_p90_s: float | None
    resolve_median_s: float | None
    resolve_p90_s: float | None
    escalations: int
    escalated_alerts: int
    notifications_per_nurse_shift: float | None = None

    def out(self) -> dict[str, Any]:
        def r(value: float | None, digits: int = 2) -> float | None:
            return None if value is None else round(value, digits)

        return {
            "patients": self.patients, "days": r(self.days), "alerts": self.alerts,
            "critical": self.critical,
            "alerts_per_patient_week": r(self.alerts_per_patient_week),
            "auto_recovered_share": r(self.auto_recovered_share, 3),
            "time_to_acknowledge_s": {"median": r(self.ack_median_s, 1),
                                      "p90": r(self.ack_p90_s, 1)},
            "time_to_resolve_s": {"median": r(self.resolve_median_s, 1),
                                  "p90": r(self.resolve_p90_s, 1)},
            "escalations": self.escalations, "escalated_alerts": self.escalated_alerts,
            "notifications_per_nurse_shift": r(self.notifications_per_nurse_shift),
        }


Stats = tuple[float | None, float | None]  # (median, p90)


def stats(values: Sequence[float]) -> Stats:
    """The median and the p90 of a sample."""
    return median(values), p90(values)


def burden(counts: Counts, days: float, ack: Stats, resolve: Stats,
           per_nurse_shift_value: float | None = None) -> Burden:
    """Put the counted figures and the measured times (median, p90) together."""
    return Burden(
        patients=counts.patients, days=days, alerts=counts.alerts, critical=counts.critical,
        alerts_per_patient_week=per_patient_week(counts.alerts, counts.patients, days),
        auto_recovered_share=share(counts.auto_recovered, counts.alerts),
        ack_median_s=ack[0], ack_p90_s=ack[1],
        resolve_median_s=resolve[0], resolve_p90_s=resolve[1],
        escalations=counts.escalations, escalated_alerts=counts.escalated_alerts,
        notifications_per_nurse_shift=per_nurse_shift_value,
    )
