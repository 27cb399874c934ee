"""Threshold rule state machine (docs/telemonitoring.md, "Rules"), pure: the caller stores
the state.

Per (patient, rule) the state remembers the severity of the open condition and how many
consecutive readings were out of band. Feed readings in time order:

- out of band: a condition opens once ``confirm_count`` consecutive readings are at least
  warning (``open``); it escalates once ``confirm_count`` consecutive readings are critical
  (``escalate``); any other out-of-band reading while open is an ``update``. A condition never
  de-escalates: it keeps its worst severity until it clears.
- back in band: the condition clears (``recovered``) only when the value is inside the normal
  band by the ``hysteresis`` margin (``normal_low + h <= value <= normal_high - h``); a reading
  in band but within the margin changes nothing (``none``) but breaks the streak.

When a person resolves the alert while the condition is still open, start again from a fresh
``ThresholdState()``: the next out-of-band readings then open a new alert.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from telemed.domain.bands import Bands, Severity, Zone, classify, is_worse, severity_of

__all__ = ["Action", "Decision", "ThresholdRule", "ThresholdState", "classify",
           "evaluate_run", "evaluate_threshold", "replay"]

Action = Literal["none", "open", "update", "escalate", "recovered"]


@dataclass(frozen=True, slots=True)
class ThresholdState:
    """What a threshold rule remembers between readings."""

    severity: Severity | None = None
    """Severity of the open condition, ``None`` when there is none."""
    warning_streak: int = 0
    """Consecutive readings at warning or worse."""
    critical_streak: int = 0
    """Consecutive critical readings."""
    last_at: datetime | None = None
    """Time of the last reading taken into account (when the caller gives times)."""

    @property
    def active(self) -> bool:
        return self.severity is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form, for storage."""
        return {
            "severity": self.severity,
            "warning_streak": self.warning_streak,
            "critical_streak": self.critical_streak,
            "last_at": self.last_at.isoformat() if self.last_at is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> ThresholdState:
        """Inverse of ``to_dict``; anything unreadable gives a fresh state."""
        if not data:
            return cls()
        try:
            severity = data.get("severity")
            last_at = data.get("last_at")
            return cls(
                severity if severity in ("warning", "critical") else None,
                max(0, int(data.get("warning_streak") or 0)),
                max(0, int(data.get("critical_streak") or 0)),
                datetime.fromisoformat(last_at) if isinstance(last_at, str) else None,
            )
        except (TypeError, ValueError):
            return cls()


@dataclass(frozen=True, slots=True)
class Decision:
    """What one reading did to the rule."""

    action: Action
    severity: Severity | None
    """Severity of the condition after this reading (``None`` when there is none)."""
    zone: Zone
    """Where this reading falls."""
    previous_severity: Severity | None = None
    out_of_order: bool = False


def _check_options(confirm_count: int, hysteresis: float) -> None:
    if confirm_count < 1:
        raise ValueError("confirm_count must be at least 1")
    if not hysteresis >= 0 or not math.isfinite(hysteresis):
        raise ValueError("hysteresis must be a finite number >= 0")


def _recovered(value: float, bands: Bands, hysteresis: float) -> bool:
    low, high = bands.normal_low, bands.normal_high
    return (low is None or value >= low + hysteresis) and (
        high is None or value <= high - hysteresis)


def evaluate_threshold(
    state: ThresholdState,
    value: float,
    bands: Bands,
    confirm_count: int = 1,
    hysteresis: float = 0.0,
    *,
    at: datetime | None = None,
) -> tuple[ThresholdState, Decision]:
    """The rule's next state and the decision for one reading (canonical unit)."""
    _check_options(confirm_count, hysteresis)
    zone = classify(value, bands)
    previous = state.severity
    if at is not None and state.last_at is not None and at < state.last_at:
        return state, Decision("none", previous, zone, previous, out_of_order=True)
    last_at = at if at is not None else state.last_at

    reading_severity = severity_of(zone)
    if reading_severity is None:
        if previous is not None and _recovered(value, bands, hysteresis):
            return ThresholdState(last_at=last_at), Decision("recovered", None, zone, previous)
        return ThresholdState(previous, 0, 0, last_at), Decision("none", previous, zone, previous)

    warning_streak = state.warning_streak + 1
    critical_streak = state.critical_streak + 1 if reading_severity == "critical" else 0
    confirmed: Severity | None = (
        "critical" if critical_streak >= confirm_count
        else "warning" if warning_streak >= confirm_count
        else None
    )
    action: Action = "none"
    severity = previous
    if previous is None and confirmed is not None:
        action, severity = "open", confirmed
    elif previous is not None and is_worse(confirmed, previous):
        action, severity = "escalate", confirmed
    elif previous is not None:
        action = "update"
    new_state = ThresholdState(severity, warning_streak, critical_streak, last_at)
    return new_state, Decision(action, severity, zone, previous)


@dataclass(frozen=True, slots=True)
class ThresholdRule:
    """One metric's threshold rule, checked and prepared once: its bands and options, and
    the in-band range ``[lowest, highest]`` where a reading with nothing open changes only
    the time of the last reading (the ingest worker's common case)."""

    bands: Bands
    confirm_count: int = 1
    hysteresis: float = 0.0
    lowest: float = field(init=False)
    highest: float = field(init=False)

    def __post_init__(self) -> None:
        _check_options(self.confirm_count, self.hysteresis)
        bands = self.bands
        object.__setattr__(self, "lowest", max(
            (b for b in (bands.critical_low, bands.warning_low) if b is not None),
            default=-math.inf))
        object.__setattr__(self, "highest", min(
            (b for b in (bands.critical_high, bands.warning_high) if b is not None),
            default=math.inf))

    def run(self, state: ThresholdState, readings: Sequence[tuple[datetime, float]]
            ) -> tuple[ThresholdState, list[tuple[int, Decision]]]:
        """``evaluate_threshold`` over one patient's new readings of the metric, ``(time,
        value)`` in time order: the final state and the decisions other than ``none``, with
        the index of the reading that took each. The same answers as folding
        ``evaluate_threshold`` reading by reading (tests/unit/domain/test_thresholds.py
        says so on generated runs); in-band readings with no open condition take a fast
        path (no objects per reading, only the time of the last one is kept)."""
        lowest, highest = self.lowest, self.highest
        severity, warning_streak, critical_streak, last_at = (
            state.severity, state.warning_streak, state.critical_streak, state.last_at)
        decisions: list[tuple[int, Decision]] = []
        for index, (at, value) in enumerate(readings):
            if severity is None and lowest <= value <= highest:  # in band, nothing open
                if last_at is None or at >= last_at:
                    warning_streak = critical_streak = 0
                    last_at = at
                continue
            current, decision = evaluate_threshold(
                ThresholdState(severity, warning_streak, critical_streak, last_at), value,
                self.bands, self.confirm_count, self.hysteresis, at=at)
            severity, warning_streak, critical_streak, last_at = (
                current.severity, current.warning_streak, current.critical_streak,
                current.last_at)
            if decision.action != "none":
                decisions.append((index, decision))
        if (severity, warning_streak, critical_streak, last_at) == (
                state.severity, state.warning_streak, state.critical_streak, state.last_at):
            return state, decisions  # unchanged: the same object, nothing to write back
        return ThresholdState(severity, warning_streak, critical_streak, last_at), decisions


def evaluate_run(
    state: ThresholdState,
    readings: Sequence[tuple[datetime, float]],
    bands: Bands,
    confirm_count: int = 1,
    hysteresis: float = 0.0,
) -> tuple[ThresholdState, list[tuple[int, Decision]]]:
    """`ThresholdRule.run` with the rule given by its parts (checked only when there are
    readings)."""
    if not readings:
        return state, []
    return ThresholdRule(bands, confirm_count, hysteresis).run(state, readings)


def replay(
    values: Iterable[float],
    bands: Bands,
    confirm_count: int = 1,
    hysteresis: float = 0.0,
    state: ThresholdState | None = None,
) -> tuple[ThresholdState, list[Decision]]:
    """Feed several readings (in time order) and collect every decision."""
    current = state if state is not None else ThresholdState()
    decisions: list[Decision] = []
    for value in values:
        current, decision = evaluate_threshold(current, value, bands, confirm_count, hysteresis)
        decisions.append(decision)
    return current, decisions
