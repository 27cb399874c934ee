"""Care plan (PAI) content: the monitoring rules of docs/telemonitoring.md ("Rules"), validated.

``parse_careplan_content`` reads the JSON-like content of a plan (``goals``, ``care_team``,
``monitoring``, ``trends``, ``news2``, ``silence_hours``, ``escalate_after_minutes``,
``page_warnings``) and
reports *every* problem at once, each with a path such as ``monitoring[0].bands.warning_low``.
Unknown keys are errors at every level (a misspelt band must not silently disable an alert).

Choices where the contract is silent:

- A timed schedule's window is ``time ± tolerance_minutes`` (default 60); windows of one
  entry must not overlap (times at least ``2 × tolerance`` apart, also across midnight), so
  a reading never counts for two scheduled measurements.
- A monitoring entry without ``bands`` uses the platform default bands of its metric; an
  explicit empty ``bands: {}`` means "no threshold alerts for this metric".
- ``hysteresis`` must leave room to recover: less than half the normal band's width when it
  has two sides, and less than the metric's plausible span otherwise.
- ``silence_hours`` absent: 24 h; ``escalate_after_minutes`` absent: 15 min.
- ``page_warnings`` absent: ``never`` (only critical alerts escalate to a person); ``day``:
  unacknowledged warnings escalate too, outside the night hours; ``day_and_night``: at any
  hour (``telemed.domain.quiet``).
- ``trends[].severity`` defaults to ``warning``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import time
from typing import Any, Literal, cast

from telemed.domain.bands import BAND_KEYS, Bands, Severity
from telemed.domain.errors import N_, DomainValidationError, FieldError
from telemed.domain.json_input import finite_number
from telemed.domain.questionnaires import CATALOGUE as QUESTIONNAIRES
from telemed.domain.schedule import format_time, parse_time
from telemed.domain.text import INVALID_CHARACTER, describe, forbidden_character
from telemed.domain.units import CLINICAL_METRICS, METRICS, MetricInfo

DEFAULT_TOLERANCE_MINUTES = 60
DEFAULT_SILENCE_HOURS = 24
DEFAULT_ESCALATE_AFTER_MINUTES = 15
MAX_GOALS = 20
MAX_GOAL_LENGTH = 500
MAX_CARE_TEAM = 50
MAX_USER_ID_LENGTH = 64
MAX_TIMES_PER_DAY = 24
MAX_TRENDS = 20
MAX_CONFIRM_COUNT = 10
PageWarnings = Literal["never", "day", "day_and_night"]
PAGE_WARNINGS: tuple[str, ...] = ("never", "day", "day_and_night")


@dataclass(frozen=True, slots=True)
class TimedSchedule:
    """Measurements due at local ``times``, each accepted within ± ``tolerance_minutes``."""

    times: tuple[time, ...]
    tolerance_minutes: int = DEFAULT_TOLERANCE_MINUTES

    def to_dict(self) -> dict[str, Any]:
        return {
            "times": [format_time(t) for t in self.times],
            "tolerance_minutes": self.tolerance_minutes,
        }


@dataclass(frozen=True, slots=True)
class ContinuousSchedule:
    """Readings arrive continuously; nothing is scheduled, nothing can be missed."""

    def to_dict(self) -> dict[str, Any]:
        return {"continuous": True}


Schedule = TimedSchedule | ContinuousSchedule


@dataclass(frozen=True, slots=True)
class MonitoringEntry:
    """What to measure, when, and which values alert."""

    metric: str
    schedule: Schedule
    bands: Bands | None = None
    confirm_count: int = 1
    hysteresis: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"metric": self.metric, "schedule": self.schedule.to_dict()}
        if self.bands is not None:
            out["bands"] = self.bands.to_dict()
        out["confirm_count"] = self.confirm_count
        out["hysteresis"] = self.hysteresis
        return out


@dataclass(frozen=True, slots=True)
class TrendRule:
    """Alert when ``metric`` changes by ``delta`` (sign matters) within ``window_hours``."""

    metric: str
    delta: float
    window_hours: int
    severity: Severity = "warning"

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "delta": self.delta,
            "window_hours": self.window_hours,
            "severity": self.severity,
        }


@dataclass(frozen=True, slots=True)
class News2Settings:
    """NEWS2 opt-in, SpO2 scale (2 only for a prescribed 88–92 % target) and oxygen flag."""

    enabled: bool = False
    spo2_scale: Literal[1, 2] = 1
    on_oxygen: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "spo2_scale": self.spo2_scale,
                "on_oxygen": self.on_oxygen}


@dataclass(frozen=True, slots=True)
class QuestionnairePlan:
    """A questionnaire of the catalogue the plan schedules every ``every_days`` days; a
    response scoring ``alert_at`` or more (or carrying a flag) opens an alert."""

    code: str
    every_days: int = 1
    alert_at: int | None = None
    severity: Severity = "warning"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "schedule": {"every_days": self.every_days}}
        if self.alert_at is not None:
            out["alert"] = {"score_at_least": self.alert_at, "severity": self.severity}
        return out


@dataclass(frozen=True, slots=True)
class CarePlanContent:
    """The validated content of one care plan version."""

    goals: tuple[str, ...] = ()
    care_team: tuple[str, ...] = ()
    monitoring: tuple[MonitoringEntry, ...] = ()
    trends: tuple[TrendRule, ...] = ()
    news2: News2Settings = field(default_factory=News2Settings)
    silence_hours: int | None = None
    escalate_after_minutes: int | None = None
    questionnaires: tuple[QuestionnairePlan, ...] = ()
    page_warnings: PageWarnings | None = None
    _entries: dict[str, MonitoringEntry] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        entries: dict[str, MonitoringEntry] = {}
        for entry in self.monitoring:
            entries.setdefault(entry.metric, entry)  # the first entry of a metric, as before
        object.__setattr__(self, "_entries", entries)

    @property
    def effective_silence_hours(self) -> int:
        return DEFAULT_SILENCE_HOURS if self.silence_hours is None else self.silence_hours

    @property
    def effective_escalate_after_minutes(self) -> int:
        if self.escalate_after_minutes is None:
            return DEFAULT_ESCALATE_AFTER_MINUTES
        return self.escalate_after_minutes

    def entry_for(self, metric: str) -> MonitoringEntry | None:
        """The monitoring entry of ``metric``, if any."""
        return self._entries.get(metric)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form; ``parse_careplan_content(c.to_dict()) == c``."""
        out: dict[str, Any] = {
            "goals": list(self.goals),
            "care_team": list(self.care_team),
            "monitoring": [e.to_dict() for e in self.monitoring],
            "trends": [t.to_dict() for t in self.trends],
            "news2": self.news2.to_dict(),
        }
        if self.silence_hours is not None:
            out["silence_hours"] = self.silence_hours
        if self.escalate_after_minutes is not None:
            out["escalate_after_minutes"] = self.escalate_after_minutes
        if self.questionnaires:
            out["questionnaires"] = [q.to_dict() for q in self.questionnaires]
        if self.page_warnings is not None:
            out["page_warnings"] = self.page_warnings
        return out

    def questionnaire(self, code: str) -> QuestionnairePlan | None:
        """The plan's entry for the questionnaire ``code``, if it schedules it."""
        return next((q for q in self.questionnaires if q.code == code), None)


def effective_bands(content: CarePlanContent | None, metric: str) -> Bands:
    """The bands that apply to ``metric``: the plan entry's, else the platform default."""
    entry = content.entry_for(metric) if content is not None else None
    if entry is not None and entry.bands is not None:
        return entry.bands
    return METRICS[metric].default_bands if metric in METRICS else Bands()


def measurement_schedule(content: CarePlanContent) -> dict[str, list[str]]:
    """Metric → local ``HH:MM`` times, for the device ``config`` topic (timed entries only)."""
    return {
        entry.metric: [format_time(t) for t in entry.schedule.times]
        for entry in content.monitoring
        if isinstance(entry.schedule, TimedSchedule)
    }


# --- parsing ---------------------------------------------------------------------------

_REQUIRED = N_("This field is required.")
_INVALID_TYPE = N_("Expected {expected}.")
_OUT_OF_RANGE = N_("Must be between {min} and {max}.")
_UNKNOWN_FIELD = N_('Unknown field "{field}". Allowed fields: {allowed}.')


class _Collector:
    """Accumulates field errors while parsing."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, path: str, code: str, message: str, **params: object) -> None:
        self.errors.append(FieldError(path, code, message, params))

    def fields(self, data: object, path: str, allowed: Sequence[str]) -> Mapping[str, Any]:
        """``data`` as a mapping with only ``allowed`` keys (others reported)."""
        if not isinstance(data, Mapping):
            self.add(path, "invalid_type", _INVALID_TYPE, expected="an object")
            return {}
        for key in data:
            if key not in allowed:
                self.add(_join(path, str(key)), "unknown_field", _UNKNOWN_FIELD,
                         field=key, allowed=", ".join(allowed))
        return cast(Mapping[str, Any], data)

    def sequence(self, data: object, path: str, what: str, maximum: int) -> Sequence[Any]:
        if not isinstance(data, list | tuple):
            self.add(path, "invalid_type", _INVALID_TYPE, expected=f"a list of {what}")
            return ()
        if len(data) > maximum:
            self.add(path, "too_many", "At most {max} items.", max=maximum)
            return ()
        return data

    def integer(self, data: object, path: str, low: int, high: int) -> int | None:
        whole = isinstance(data, int) or (
            isinstance(data, float) and math.isfinite(data) and data.is_integer())
        if not whole or isinstance(data, bool):
            self.add(path, "invalid_type", _INVALID_TYPE, expected="a whole number")
            return None
        value = int(cast(float, data))
        if not low <= value <= high:
            self.add(path, "out_of_range", _OUT_OF_RANGE, min=low, max=high)
            return None
        return value

    def number(self, data: object, path: str) -> float | None:
        number = finite_number(data)
        if number is None:
            self.add(path, "invalid_type", _INVALID_TYPE, expected="a number")
        return number

    def boolean(self, data: object, path: str) -> bool | None:
        if not isinstance(data, bool):
            self.add(path, "invalid_type", _INVALID_TYPE, expected="true or false")
            return None
        return data

    def text(self, data: object, path: str, max_length: int) -> str | None:
        if not isinstance(data, str):
            self.add(path, "invalid_type", _INVALID_TYPE, expected="a text")
            return None
        text = data.strip()
        if not text:
            self.add(path, "empty_text", "Must not be empty.")
            return None
        if (bad := forbidden_character(text)) is not None:
            self.add(path, "invalid_characters", INVALID_CHARACTER, character=describe(bad))
            return None
        if len(text) > max_length:
            self.add(path, "too_long", "At most {max} characters.", max=max_length)
            return None
        return text

    def metric(self, data: object, path: str) -> MetricInfo | None:
        if not isinstance(data, str):
            self.add(path, "invalid_type", _INVALID_TYPE, expected="a metric name")
            return None
        info = METRICS.get(data)
        if info is None:
            self.add(path, "unknown_metric", 'Unknown metric "{metric}"; use one of: {metrics}.',
                     metric=data, metrics=", ".join(CLINICAL_METRICS))
            return None
        if not info.is_clinical:
            self.add(path, "metric_not_allowed",
                     '"{metric}" is device health, not a measurement of the patient.',
                     metric=data)
            return None
        return info


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _fmt(value: float) -> str:
    return f"{value:g}"


def _parse_schedule(c: _Collector, data: object, path: str) -> Schedule | None:
    fields = c.fields(data, path, ("times", "tolerance_minutes", "continuous"))
    if not fields and isinstance(data, Mapping):
        c.add(path, "invalid_schedule", "Give either times with a tolerance, or continuous: true.")
        return None
    if "continuous" in fields:
        if fields["continuous"] is not True:
            c.add(_join(path, "continuous"), "invalid_type", _INVALID_TYPE,
                  expected="true (or leave it out and give times)")
            return None
        if "times" in fields or "tolerance_minutes" in fields:
            c.add(path, "invalid_schedule",
                  "Give either times with a tolerance, or continuous: true.")
            return None
        return ContinuousSchedule()
    if not fields:
        return None
    if "times" not in fields:
        c.add(_join(path, "times"), "required", _REQUIRED)
        return None
    before = len(c.errors)
    tolerance = DEFAULT_TOLERANCE_MINUTES
    if "tolerance_minutes" in fields:
        parsed_tolerance = c.integer(fields["tolerance_minutes"],
                                     _join(path, "tolerance_minutes"), 1, 720)
        tolerance = parsed_tolerance or tolerance
    times_path = _join(path, "times")
    raw_times = c.sequence(fields["times"], times_path, "times (HH:MM)", MAX_TIMES_PER_DAY)
    if isinstance(fields["times"], list | tuple) and not fields["times"]:
        c.add(times_path, "empty_schedule", "List at least one time.")
    times: list[time] = []
    for i, raw in enumerate(raw_times):
        item_path = f"{times_path}[{i}]"
        parsed = parse_time(raw) if isinstance(raw, str) else None
        if parsed is None:
            c.add(item_path, "invalid_time",
                  'Expected a time of day as HH:MM (00:00–23:59), got "{value}".', value=raw)
        elif parsed in times:
            c.add(item_path, "duplicate_time", "{time} is listed more than once.", time=raw)
        else:
            times.append(parsed)
    if len(c.errors) > before:
        return None
    times.sort()
    minutes = [t.hour * 60 + t.minute for t in times]
    for i, start in enumerate(minutes if len(minutes) > 1 else []):
        is_last = i + 1 == len(minutes)
        end = minutes[0] + 1440 if is_last else minutes[i + 1]
        if end - start < 2 * tolerance:
            c.add(times_path, "overlapping_windows",
                  "The windows of {first} and {second} overlap: with a tolerance of "
                  "{tolerance} minutes the times must be at least {gap} minutes apart.",
                  first=format_time(times[i]), second=format_time(times[(i + 1) % len(times)]),
                  tolerance=tolerance, gap=2 * tolerance)
            return None
    return TimedSchedule(tuple(times), tolerance)


def _parse_bands(c: _Collector, data: object, path: str, info: MetricInfo | None) -> Bands | None:
    before = len(c.errors)
    fields = c.fields(data, path, BAND_KEYS)
    values: dict[str, float] = {}
    for key in BAND_KEYS:
        if key not in fields or fields[key] is None:
            continue
        value = c.number(fields[key], _join(path, key))
        if value is None:
            continue
        if info is not None and not info.is_plausible(value):
            c.add(_join(path, key), "implausible_band",
                  "{value} is outside the plausible range for {metric} ({min}–{max} {unit}).",
                  value=_fmt(value), metric=info.name, min=_fmt(info.plausible_min),
                  max=_fmt(info.plausible_max), unit=info.display_unit)
            continue
        values[key] = value
    bands = Bands(**values)
    for low_key, high_key in bands.order_problems():
        relation = "above" if (low_key, high_key) == ("warning_low", "warning_high") else (
            "at or above")
        c.add(_join(path, low_key), "band_order",
              "{lower} ({lower_value}) must not be {relation} {upper} ({upper_value}).",
              lower=low_key, lower_value=_fmt(values[low_key]), relation=relation,
              upper=high_key, upper_value=_fmt(values[high_key]))
    return bands if len(c.errors) == before else None


def _parse_entry(c: _Collector, data: object, path: str) -> MonitoringEntry | None:
    before = len(c.errors)
    if not isinstance(data, Mapping):
        c.fields(data, path, ())
        return None
    fields = c.fields(data, path, ("metric", "schedule", "bands", "confirm_count", "hysteresis"))
    info = None
    if "metric" not in fields:
        c.add(_join(path, "metric"), "required", _REQUIRED)
    else:
        info = c.metric(fields["metric"], _join(path, "metric"))
    schedule = None
    if "schedule" not in fields:
        c.add(_join(path, "schedule"), "required", _REQUIRED)
    else:
        schedule = _parse_schedule(c, fields["schedule"], _join(path, "schedule"))
    bands = None
    if fields.get("bands") is not None:
        bands = _parse_bands(c, fields["bands"], _join(path, "bands"), info)
    confirm_count = 1
    if fields.get("confirm_count") is not None:
        confirm_count = c.integer(fields["confirm_count"], _join(path, "confirm_count"),
                                  1, MAX_CONFIRM_COUNT) or 1
    hysteresis = 0.0
    if fields.get("hysteresis") is not None:
        hysteresis_path = _join(path, "hysteresis")
        value = c.number(fields["hysteresis"], hysteresis_path)
        if value is not None and value < 0:
            c.add(hysteresis_path, "out_of_range", "Must not be negative.")
        bands_valid = bands is not None or fields.get("bands") is None
        if value is not None and value >= 0 and info is not None and bands_valid:
            limit = _hysteresis_limit(info, bands if bands is not None else info.default_bands)
            if value >= limit:
                c.add(hysteresis_path, "hysteresis_too_large",
                      "Must be less than {max} {unit}, or a reading could never recover.",
                      max=_fmt(limit), unit=info.display_unit)
            else:
                hysteresis = value
    if len(c.errors) > before or info is None or schedule is None:
        return None
    return MonitoringEntry(info.name, schedule, bands, confirm_count, hysteresis)


def _hysteresis_limit(info: MetricInfo, bands: Bands) -> float:
    low, high = bands.normal_low, bands.normal_high
    if low is not None and high is not None:
        return (high - low) / 2
    return info.plausible_max - info.plausible_min


def _parse_trend(c: _Collector, data: object, path: str) -> TrendRule | None:
    before = len(c.errors)
    if not isinstance(data, Mapping):
        c.fields(data, path, ())
        return None
    fields = c.fields(data, path, ("metric", "delta", "window_hours", "severity"))
    for key in ("metric", "delta", "window_hours"):
        if key not in fields:
            c.add(_join(path, key), "required", _REQUIRED)
    info = c.metric(fields["metric"], _join(path, "metric")) if "metric" in fields else None
    delta = None
    if "delta" in fields:
        delta = c.number(fields["delta"], _join(path, "delta"))
        if delta == 0:
            c.add(_join(path, "delta"), "zero_delta", "The change must not be zero.")
        elif delta is not None and info is not None:
            span = info.plausible_max - info.plausible_min
            if abs(delta) > span:
                c.add(_join(path, "delta"), "out_of_range", _OUT_OF_RANGE,
                      min=_fmt(-span), max=_fmt(span))
    window = None
    if "window_hours" in fields:
        window = c.integer(fields["window_hours"], _join(path, "window_hours"), 1, 720)
    severity: Severity = "warning"
    if "severity" in fields:
        if fields["severity"] not in ("warning", "critical"):
            c.add(_join(path, "severity"), "invalid_choice", "Must be one of: {choices}.",
                  choices="warning, critical")
        else:
            severity = fields["severity"]
    if len(c.errors) > before or info is None or delta is None or window is None:
        return None
    return TrendRule(info.name, delta, window, severity)


def _parse_news2(c: _Collector, data: object, path: str) -> News2Settings:
    fields = c.fields(data, path, ("enabled", "spo2_scale", "on_oxygen"))
    enabled = c.boolean(fields["enabled"], _join(path, "enabled")) if "enabled" in fields else None
    on_oxygen = (c.boolean(fields["on_oxygen"], _join(path, "on_oxygen"))
                 if "on_oxygen" in fields else None)
    scale: Literal[1, 2] = 1
    if "spo2_scale" in fields:
        raw = fields["spo2_scale"]
        if _is_number(raw) and raw in (1, 2):
            scale = 2 if raw == 2 else 1
        else:
            c.add(_join(path, "spo2_scale"), "invalid_choice", "Must be one of: {choices}.",
                  choices="1, 2")
    return News2Settings(bool(enabled), scale, bool(on_oxygen))


CONTENT_FIELDS: tuple[str, ...] = ("goals", "care_team", "monitoring", "trends", "news2",
                                   "silence_hours", "escalate_after_minutes", "page_warnings",
                                   "questionnaires")


def _parse_questionnaire(c: _Collector, data: object, path: str) -> QuestionnairePlan | None:
    before = len(c.errors)
    fields = c.fields(data, path, ("code", "schedule", "alert"))
    code = fields.get("code")
    if not isinstance(code, str) or code not in QUESTIONNAIRES:
        c.add(_join(path, "code"), "invalid_choice", "Must be one of: {choices}.",
              choices=", ".join(QUESTIONNAIRES))
        return None
    every = 1
    if "schedule" in fields:
        schedule = c.fields(fields["schedule"], _join(path, "schedule"), ("every_days",))
        if "every_days" in schedule:
            every = c.integer(schedule["every_days"], _join(path, "schedule.every_days"),
                              1, 90) or 1
    alert_at = None
    severity: Severity = "warning"
    if "alert" in fields:
        alert = c.fields(fields["alert"], _join(path, "alert"), ("score_at_least", "severity"))
        if "score_at_least" in alert:
            alert_at = c.integer(alert["score_at_least"], _join(path, "alert.score_at_least"),
                                 1, QUESTIONNAIRES[code].max_score)
        if alert.get("severity", "warning") not in ("warning", "critical"):
            c.add(_join(path, "alert.severity"), "invalid_choice",
                  "Must be one of: {choices}.", choices="warning, critical")
        else:
            severity = alert.get("severity", "warning")
    if len(c.errors) > before:
        return None
    return QuestionnairePlan(code, every, alert_at, severity)


def parse_careplan_content(data: Mapping[str, Any]) -> CarePlanContent:
    """Validate and normalize plan content; ``DomainValidationError`` lists every problem."""
    c = _Collector()
    fields = {k: v for k, v in c.fields(data, "", CONTENT_FIELDS).items() if v is not None}

    goals: list[str] = []
    for i, raw in enumerate(c.sequence(fields.get("goals", []), "goals", "texts", MAX_GOALS)):
        goal = c.text(raw, f"goals[{i}]", MAX_GOAL_LENGTH)
        if goal is not None:
            goals.append(goal)

    team: list[str] = []
    raw_team = c.sequence(fields.get("care_team", []), "care_team", "user ids", MAX_CARE_TEAM)
    for i, raw in enumerate(raw_team):
        user_id = c.text(raw, f"care_team[{i}]", MAX_USER_ID_LENGTH)
        if user_id is not None and user_id in team:
            c.add(f"care_team[{i}]", "duplicate", '"{value}" is listed more than once.',
                  value=user_id)
        elif user_id is not None:
            team.append(user_id)

    monitoring: list[MonitoringEntry] = []
    raw_monitoring = c.sequence(fields.get("monitoring", []), "monitoring", "monitoring entries",
                                len(CLINICAL_METRICS))
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_monitoring):
        metric = raw.get("metric") if isinstance(raw, Mapping) else None
        if isinstance(metric, str) and metric in seen:
            c.add(f"monitoring[{i}].metric", "duplicate_metric",
                  "{metric} already has a monitoring entry (monitoring[{index}]).",
                  metric=metric, index=seen[metric])
            continue
        if isinstance(metric, str):
            seen[metric] = i
        entry = _parse_entry(c, raw, f"monitoring[{i}]")
        if entry is not None:
            monitoring.append(entry)

    trends: list[TrendRule] = []
    for i, raw in enumerate(c.sequence(fields.get("trends", []), "trends", "trend rules",
                                       MAX_TRENDS)):
        trend = _parse_trend(c, raw, f"trends[{i}]")
        if trend is not None and trend in trends:
            c.add(f"trends[{i}]", "duplicate", "The same trend rule is listed more than once.")
        elif trend is not None:
            trends.append(trend)

    news2 = _parse_news2(c, fields.get("news2", {}), "news2")

    silence = None
    if "silence_hours" in fields:
        silence = c.integer(fields["silence_hours"], "silence_hours", 1, 720)
    escalate = None
    if "escalate_after_minutes" in fields:
        escalate = c.integer(fields["escalate_after_minutes"], "escalate_after_minutes", 1, 1440)
    page_warnings: PageWarnings | None = None
    if "page_warnings" in fields:
        if fields["page_warnings"] in PAGE_WARNINGS:
            page_warnings = cast(PageWarnings, fields["page_warnings"])
        else:
            c.add("page_warnings", "invalid_choice", "Must be one of: {choices}.",
                  choices=", ".join(PAGE_WARNINGS))

    questionnaires: list[QuestionnairePlan] = []
    for i, raw in enumerate(c.sequence(fields.get("questionnaires", []), "questionnaires",
                                       "questionnaires", len(QUESTIONNAIRES))):
        planned = _parse_questionnaire(c, raw, f"questionnaires[{i}]")
        if planned is not None and any(q.code == planned.code for q in questionnaires):
            c.add(f"questionnaires[{i}].code", "duplicate", '"{value}" is listed more than once.',
                  value=planned.code)
        elif planned is not None:
            questionnaires.append(planned)

    if c.errors:
        raise DomainValidationError(c.errors)
    return CarePlanContent(
        goals=tuple(goals),
        care_team=tuple(team),
        monitoring=tuple(monitoring),
        trends=tuple(trends),
        news2=news2,
        silence_hours=silence,
        escalate_after_minutes=escalate,
        questionnaires=tuple(questionnaires),
        page_warnings=page_warnings,
    )
