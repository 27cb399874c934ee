"""What a rule found, as data: a stable code, its values, and the API's English sentence.

An alert carries three forms of the same fact:

- ``detail_code``: one of ``DETAIL_CODES``, a small vocabulary that never changes meaning;
- ``detail_args``: a JSON object of the values (field names per code below). Times are ISO
  8601 strings with their UTC offset, values are numbers in the metric's canonical unit
  (``unit`` names it, UCUM);
- ``detail``: the English sentence with UTC times that API clients have always read.

Pages do not show ``detail``: they say the code and its values in the reader's language and
the patient's time zone (``telemed.views.alert_text``).

============================  ===================================================================
code                          args
============================  ===================================================================
``threshold``                 metric, value, unit, zone (``critical_high``…), at
``threshold_recovered``       metric, value, unit, at
``trend``                     metric, unit, start_value, start_time, end_value, end_time, change,
                              delta (the rule's), window_hours (the rule's)
``news2``                     total, max_single, risk (``low``, ``low_medium``, ``medium``,
                              ``high``), at (the newest of the scored readings)
``news2_recovered``           total, at
``missed_measurement``        metric, due, local_date, local_time (``HH:MM``), timezone, reason
                              (``device_offline`` or ``patient_skipped``)
``device_silent``             device_id, serial, kind, since, silence_hours
``device_heard_again``        device_id, serial, kind, at
============================  ===================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from telemed.domain.news2 import News2Result
from telemed.domain.schedule import MeasurementWindow, MissReason, format_time
from telemed.domain.trends import TrendHit
from telemed.domain.units import METRICS

DetailCode = Literal[
    "threshold", "threshold_recovered", "trend", "news2", "news2_recovered",
    "missed_measurement", "device_silent", "device_heard_again",
    "questionnaire", "questionnaire_recovered",
]
DETAIL_CODES: tuple[str, ...] = get_args(DetailCode)


@dataclass(frozen=True, slots=True)
class AlertDetail:
    """One rule's finding: ``code`` and ``args`` for people's pages, ``text`` for the API."""

    code: DetailCode
    args: Mapping[str, Any]
    text: str

    def args_json(self) -> dict[str, Any]:
        """``args`` as a plain dict (for the JSON column)."""
        return dict(self.args)


def iso(value: datetime, timespec: str = "seconds") -> str:
    """An aware time as ISO 8601 in UTC, with its offset (``…+00:00``)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("alert detail times must be timezone-aware")
    return value.astimezone(UTC).isoformat(timespec=timespec)


def _fmt(value: float, metric: str) -> str:
    info = METRICS.get(metric)
    decimals = info.decimals if info is not None else 1
    return f"{value:.{decimals}f} {info.display_unit if info else ''}".strip()


def _name(metric: str) -> str:
    info = METRICS.get(metric)
    return info.display_name if info is not None else metric


def _unit(metric: str) -> str:
    info = METRICS.get(metric)
    return info.canonical_unit if info is not None else ""


def threshold(metric: str, value: float, zone: str, at: datetime) -> AlertDetail:
    """A reading out of the plan's bands (``zone`` as ``domain.bands`` names it)."""
    return AlertDetail(
        "threshold",
        {"metric": metric, "value": value, "unit": _unit(metric), "zone": zone, "at": iso(at)},
        f"{_name(metric)} {_fmt(value, metric)} ({zone.replace('_', ' ')}) at {iso(at)}")


def threshold_recovered(metric: str, value: float, at: datetime) -> AlertDetail:
    """A reading back inside the bands (beyond the hysteresis margin)."""
    return AlertDetail(
        "threshold_recovered",
        {"metric": metric, "value": value, "unit": _unit(metric), "at": iso(at)},
        f"{_name(metric)} back to {_fmt(value, metric)} at {iso(at)}")


def trend(metric: str, hit: TrendHit, delta: float, window_hours: int) -> AlertDetail:
    """A change of at least ``delta`` within the rule's window."""
    info = METRICS.get(metric)
    unit = info.display_unit if info is not None else ""
    return AlertDetail(
        "trend",
        {"metric": metric, "unit": _unit(metric),
         "start_value": hit.start_value, "start_time": iso(hit.start_time),
         "end_value": hit.end_value, "end_time": iso(hit.end_time),
         "change": round(hit.change, 6), "delta": delta, "window_hours": window_hours},
        f"{_name(metric)} changed {hit.change:+.1f} {unit} in {hit.hours:.0f} h "
        f"({_fmt(hit.start_value, metric)} at {iso(hit.start_time, 'minutes')} → "
        f"{_fmt(hit.end_value, metric)} at {iso(hit.end_time, 'minutes')}; "
        f"rule {delta:+g} in {window_hours} h)")


def news2(scored: News2Result, at: datetime) -> AlertDetail:
    """A NEWS2 score at the alert level."""
    return AlertDetail(
        "news2",
        {"total": scored.total, "max_single": scored.max_single, "risk": scored.risk,
         "at": iso(at)},
        f"NEWS2 {scored.total} (highest single parameter {scored.max_single}, "
        f"risk {scored.risk.replace('_', '-')}) at {iso(at)}")


def news2_recovered(total: int, at: datetime) -> AlertDetail:
    """A NEWS2 score below the alert level again."""
    return AlertDetail("news2_recovered", {"total": total, "at": iso(at)},
                       f"NEWS2 {total} at {iso(at)}")


def missed_measurement(metric: str, window: MeasurementWindow, timezone: str,
                       reason: MissReason) -> AlertDetail:
    """A scheduled measurement that did not arrive within its window."""
    why = ("the device was offline" if reason == "device_offline"
           else "the device was online: the patient did not measure")
    local_time = format_time(window.local_time)
    return AlertDetail(
        "missed_measurement",
        {"metric": metric, "due": iso(window.due), "local_date": window.local_date.isoformat(),
         "local_time": local_time, "timezone": timezone, "reason": reason},
        f"{_name(metric)} due at {local_time} on {window.local_date.isoformat()} "
        f"({timezone}) was not received: {why} [{reason}]")


def device_silent(device_id: str, serial: str, kind: str, since: datetime,
                  silence_hours: int) -> AlertDetail:
    """A device that sent nothing for longer than the plan allows."""
    return AlertDetail(
        "device_silent",
        {"device_id": device_id, "serial": serial, "kind": kind, "since": iso(since),
         "silence_hours": silence_hours},
        f"Device {serial} ({kind}) silent since {iso(since, 'minutes')} "
        f"(more than {silence_hours} h)")


def device_heard_again(device_id: str, serial: str, kind: str, at: datetime) -> AlertDetail:
    """A silent device that was heard from again."""
    return AlertDetail(
        "device_heard_again",
        {"device_id": device_id, "serial": serial, "kind": kind, "at": iso(at)},
        f"Device {serial} heard again at {iso(at, 'minutes')}")


def questionnaire(code: str, score: int, max_score: int, band: str,
                  flags: tuple[str, ...], at: datetime) -> AlertDetail:
    """A questionnaire response past the plan's threshold, or with a flag."""
    flagged = f"; flags: {', '.join(flags)}" if flags else ""
    return AlertDetail(
        "questionnaire",
        {"questionnaire": code, "score": score, "max_score": max_score, "band": band,
         "flags": list(flags), "at": iso(at)},
        f"{code} score {score}/{max_score} ({band.replace('_', ' ')}{flagged}) at {iso(at)}")


def questionnaire_recovered(code: str, score: int, max_score: int, at: datetime) -> AlertDetail:
    """A later response of the same questionnaire below the threshold, without flags."""
    return AlertDetail(
        "questionnaire_recovered",
        {"questionnaire": code, "score": score, "max_score": max_score, "at": iso(at)},
        f"{code} score {score}/{max_score} at {iso(at)}")
