"""The care-plan editor form: form fields ⇄ plan content, error paths → form fields.

Every clinical metric has its own fieldset with fixed ids (``m-<metric>-<key>``); the content
sent to the service lists only the monitored ones, so `Submission.monitoring_order` remembers
which metric each ``monitoring[i]`` is. Trend rules are rows ``trend-<row>-<key>``; empty rows
are skipped and `Submission.trend_rows` maps ``trends[i]`` back to its row.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from telemed.db.models import CarePlan
from telemed.domain.bands import BAND_KEYS
from telemed.domain.questionnaires import CATALOGUE as QUESTIONNAIRES
from telemed.domain.units import CLINICAL_METRICS, METRICS
from telemed.views.forms import N_, Form, parse_date

MAX_TREND_ROWS = 20
DEFAULT_TOLERANCE = "60"

BAND_LABELS: dict[str, str] = {
    "critical_low": N_("Critical low"),
    "warning_low": N_("Warning low"),
    "warning_high": N_("Warning high"),
    "critical_high": N_("Critical high"),
}

_ENTRY_LABELS: dict[str, str] = {
    "monitor": N_("monitor"),
    "no_bands": N_("no threshold alerts"),
    "schedule-times": N_("schedule"),
    "times": N_("times"),
    "tolerance": N_("tolerance (minutes)"),
    "confirm_count": N_("readings to confirm"),
    "hysteresis": N_("hysteresis"),
    **BAND_LABELS,
}

_TREND_LABELS: dict[str, str] = {
    "metric": N_("metric"),
    "delta": N_("change"),
    "window_hours": N_("within (hours)"),
    "severity": N_("severity"),
}

_PLAIN_LABELS: dict[str, str] = {
    "title": N_("Title"),
    "period_start": N_("Start date"),
    "period_end": N_("End date"),
    "goals": N_("Goals"),
    "news2-enabled": N_("NEWS2"),
    "news2-spo2_scale-1": N_("NEWS2 SpO2 scale"),
    "news2-on_oxygen": N_("Patient on oxygen"),
    "silence_hours": N_("Device silent after (hours)"),
    "escalate_after_minutes": N_("Escalate after (minutes)"),
}

_QUESTIONNAIRE_LABELS: dict[str, str] = {
    "on": N_("ask"),
    "every": N_("every (days)"),
    "alert": N_("alert from a score of"),
}

_TREND_RULE = N_("Trend rule {n}")
_DATE_FORMAT = N_("Enter a date as DD/MM/YYYY.")
_REQUIRED = N_("This field is required.")

_ENTRY_PATH = re.compile(r"^monitoring\[(\d+)\](?:\.(.+))?$")
_TREND_PATH = re.compile(r"^trends\[(\d+)\](?:\.(.+))?$")
_TREND_ID = re.compile(r"^trend-(\d+)-(\w+)$")
_QUESTIONNAIRE_PATH = re.compile(r"^questionnaires\[(\d+)\](?:\.(.+))?$")
_SPLIT_TIMES = re.compile(r"[\s,;]+")


def mid(metric: str, key: str) -> str:
    """The id (and name) of a monitoring field."""
    return f"m-{metric}-{key}"


def qid(code: str, key: str) -> str:
    """The id (and name) of a questionnaire field (``on``, ``every``, ``alert``)."""
    return f"q-{code}-{key}"


def tid(row: int, key: str) -> str:
    """The id (and name) of a trend-rule field."""
    return f"trend-{row}-{key}"


def fmt_number(value: object) -> str:
    """A stored number as the form shows it (``2`` not ``2.0``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    return f"{value:g}"


# --- content → form --------------------------------------------------------------------


def new_form(today: date) -> Form:
    """The values of an empty editor."""
    form: Form = {"title": "", "period_start": today.isoformat(), "period_end": "", "goals": "",
                  "news2-spo2_scale": "1", "silence_hours": "", "escalate_after_minutes": ""}
    for metric in CLINICAL_METRICS:
        form.update({mid(metric, "schedule"): "times", mid(metric, "tolerance"): DEFAULT_TOLERANCE,
                     mid(metric, "confirm_count"): "1", mid(metric, "hysteresis"): "0"})
    for code in QUESTIONNAIRES:
        form[qid(code, "every")] = "1"
    return form


def form_from_plan(plan: CarePlan) -> Form:
    """The editor's values for an existing plan version."""
    form = new_form(plan.period_start)
    content = plan.content
    form.update({
        "title": plan.title,
        "period_end": plan.period_end.isoformat() if plan.period_end else "",
        "goals": "\n".join(str(goal) for goal in content.get("goals", [])),
        "silence_hours": fmt_number(content.get("silence_hours")),
        "escalate_after_minutes": fmt_number(content.get("escalate_after_minutes")),
    })
    for entry in content.get("monitoring", []):
        metric = entry["metric"]
        schedule = entry.get("schedule", {})
        form[mid(metric, "monitor")] = "on"
        if schedule.get("continuous"):
            form[mid(metric, "schedule")] = "continuous"
        else:
            form[mid(metric, "times")] = ", ".join(schedule.get("times", []))
            form[mid(metric, "tolerance")] = fmt_number(schedule.get("tolerance_minutes"))
        bands = entry.get("bands")
        if bands == {}:
            form[mid(metric, "no_bands")] = "on"
        for key, value in (bands or {}).items():
            form[mid(metric, key)] = fmt_number(value)
        form[mid(metric, "confirm_count")] = fmt_number(entry.get("confirm_count", 1))
        form[mid(metric, "hysteresis")] = fmt_number(entry.get("hysteresis", 0))
    for row, trend in enumerate(content.get("trends", [])):
        form[tid(row, "metric")] = trend["metric"]
        form[tid(row, "delta")] = fmt_number(trend["delta"])
        form[tid(row, "window_hours")] = fmt_number(trend["window_hours"])
        form[tid(row, "severity")] = trend.get("severity", "warning")
    news2 = content.get("news2", {})
    if news2.get("enabled"):
        form["news2-enabled"] = "on"
    if news2.get("on_oxygen"):
        form["news2-on_oxygen"] = "on"
    form["news2-spo2_scale"] = str(news2.get("spo2_scale", 1))
    for entry in content.get("questionnaires", []):
        code = entry["code"]
        form[qid(code, "on")] = "on"
        form[qid(code, "every")] = fmt_number(entry.get("schedule", {}).get("every_days", 1))
        form[qid(code, "alert")] = fmt_number(entry.get("alert", {}).get("score_at_least"))
    return form


def trend_row_count(form: Form) -> int:
    """How many trend rows to show: the filled ones plus one blank row, at least two."""
    posted = 0
    while posted < MAX_TREND_ROWS and tid(posted, "metric") in form:
        posted += 1
    filled = [row for row in range(posted) if _trend_filled(form, row)]
    last = filled[-1] + 1 if filled else 0
    return min(MAX_TREND_ROWS, max(posted, last + 1, 2))


# --- form → content --------------------------------------------------------------------


def _number(text: str | None) -> float | str | None:
    """A decimal (comma or point) as float; unparseable text stays text (the service says so)."""
    raw = (text or "").strip()
    if not raw:
        return None
    try:
        value = float(raw.replace(",", "."))
    except ValueError:
        return raw
    return value if math.isfinite(value) else raw


def _whole(text: str | None) -> int | float | str | None:
    value = _number(text)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _checked(form: Form, name: str) -> bool:
    return bool(form.get(name))


def _trend_filled(form: Form, row: int) -> bool:
    return any(form.get(tid(row, key), "").strip() for key in ("metric", "delta", "window_hours"))


@dataclass
class Submission:
    """The content read from a posted editor, and how to map its paths back to fields."""

    data: dict[str, Any]
    local_errors: dict[str, str] = field(default_factory=dict)
    monitoring_order: list[str] = field(default_factory=list)
    trend_rows: list[int] = field(default_factory=list)
    questionnaire_order: list[str] = field(default_factory=list)


def read_submission(form: Form) -> Submission:
    """The care-plan data of a posted editor form (header fields checked here)."""
    sub = Submission(data={"title": form.get("title", "")})
    for key, required in (("period_start", True), ("period_end", False)):
        raw = form.get(key, "").strip()
        parsed = parse_date(raw) if raw else None
        if raw and parsed is None:
            sub.local_errors[key] = _DATE_FORMAT
        elif required and parsed is None:
            sub.local_errors[key] = _REQUIRED
        sub.data[key] = parsed
    sub.data["goals"] = [line.strip() for line in form.get("goals", "").splitlines()
                         if line.strip()]
    monitoring: list[dict[str, Any]] = []
    for metric in CLINICAL_METRICS:
        if _checked(form, mid(metric, "monitor")):
            monitoring.append(_entry(form, metric))
            sub.monitoring_order.append(metric)
    sub.data["monitoring"] = monitoring
    trends: list[dict[str, Any]] = []
    for row in range(MAX_TREND_ROWS):
        if tid(row, "metric") not in form:
            break
        if not _trend_filled(form, row):
            continue
        trend: dict[str, Any] = {
            "delta": _number(form.get(tid(row, "delta"))),
            "window_hours": _whole(form.get(tid(row, "window_hours"))),
            "severity": form.get(tid(row, "severity")) or "warning",
        }
        if form.get(tid(row, "metric")):
            trend["metric"] = form[tid(row, "metric")]
        trends.append({k: v for k, v in trend.items() if v is not None})
        sub.trend_rows.append(row)
    sub.data["trends"] = trends
    sub.data["news2"] = {
        "enabled": _checked(form, "news2-enabled"),
        "spo2_scale": _whole(form.get("news2-spo2_scale")) or 1,
        "on_oxygen": _checked(form, "news2-on_oxygen"),
    }
    sub.data["silence_hours"] = _whole(form.get("silence_hours"))
    sub.data["escalate_after_minutes"] = _whole(form.get("escalate_after_minutes"))
    asked = []
    for code in QUESTIONNAIRES:
        if not _checked(form, qid(code, "on")):
            continue
        entry: dict[str, Any] = {"code": code,
                                 "schedule": {"every_days": _whole(form.get(qid(code, "every")))
                                              or 1}}
        alert = _whole(form.get(qid(code, "alert")))
        if alert is not None:
            entry["alert"] = {"score_at_least": alert}
        asked.append(entry)
        sub.questionnaire_order.append(code)
    sub.data["questionnaires"] = asked
    return sub


def _entry(form: Form, metric: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"metric": metric}
    if form.get(mid(metric, "schedule")) == "continuous":
        entry["schedule"] = {"continuous": True}
    else:
        raw_times = form.get(mid(metric, "times"), "")
        schedule: dict[str, Any] = {"times": [t for t in _SPLIT_TIMES.split(raw_times) if t]}
        tolerance = _whole(form.get(mid(metric, "tolerance")))
        if tolerance is not None:
            schedule["tolerance_minutes"] = tolerance
        entry["schedule"] = schedule
    bands = {key: value for key in BAND_KEYS
             if (value := _number(form.get(mid(metric, key)))) is not None}
    if _checked(form, mid(metric, "no_bands")):
        entry["bands"] = {}  # no threshold alerts at all, not even the platform defaults
    elif bands:
        entry["bands"] = bands
    confirm = _whole(form.get(mid(metric, "confirm_count")))
    if confirm is not None:
        entry["confirm_count"] = confirm
    hysteresis = _number(form.get(mid(metric, "hysteresis")))
    if hysteresis is not None:
        entry["hysteresis"] = hysteresis
    return entry


# --- error paths → fields --------------------------------------------------------------


def field_for_path(sub: Submission, path: str) -> str | None:
    """The id of the form field an error path (``monitoring[2].bands.warning_low``) belongs to."""
    if entry := _ENTRY_PATH.match(path):
        index = int(entry[1])
        if index >= len(sub.monitoring_order):
            return None
        return _entry_field(sub.monitoring_order[index], entry[2] or "")
    if trend := _TREND_PATH.match(path):
        index = int(trend[1])
        if index >= len(sub.trend_rows):
            return None
        key = (trend[2] or "metric").split(".")[0]
        return tid(sub.trend_rows[index], key if key in _TREND_LABELS else "metric")
    if asked := _QUESTIONNAIRE_PATH.match(path):
        index = int(asked[1])
        if index >= len(sub.questionnaire_order):
            return None
        rest = asked[2] or ""
        key = "every" if rest.startswith("schedule") else "alert" if rest.startswith(
            "alert") else "on"
        return qid(sub.questionnaire_order[index], key)
    head = path.split("[", 1)[0]
    if head.startswith("news2"):
        return {"news2.spo2_scale": "news2-spo2_scale-1",
                "news2.on_oxygen": "news2-on_oxygen"}.get(head, "news2-enabled")
    return head if head in _PLAIN_LABELS else None


def _entry_field(metric: str, rest: str) -> str:
    if rest.startswith("schedule.times"):
        return mid(metric, "times")
    if rest == "schedule.tolerance_minutes":
        return mid(metric, "tolerance")
    if rest.startswith("schedule"):
        return mid(metric, "schedule-times")
    if rest.startswith("bands."):
        key = rest.split(".")[1]
        return mid(metric, key if key in BAND_KEYS else "critical_low")
    if rest == "bands":
        return mid(metric, "critical_low")
    if rest in ("confirm_count", "hysteresis"):
        return mid(metric, rest)
    return mid(metric, "monitor")


def goal_line(path: str) -> int | None:
    """The 1-based line of a ``goals[i]`` error, to say which goal is wrong."""
    match = re.match(r"^goals\[(\d+)\]", path)
    return int(match[1]) + 1 if match else None


_GENERAL_ORDER = ("title", "period_start", "period_end", "goals")
_ENTRY_ORDER = ("monitor", "schedule-times", "times", "tolerance", *BAND_KEYS, "no_bands",
                "confirm_count", "hysteresis")
_TREND_ORDER = tuple(_TREND_LABELS)
_TAIL_ORDER = ("news2-enabled", "news2-spo2_scale-1", "news2-on_oxygen", "silence_hours",
               "escalate_after_minutes")


def _position(items: tuple[str, ...], item: str) -> int:
    return items.index(item) if item in items else len(items)


def field_order(field_id: str) -> tuple[int, ...]:
    """Sort key of a field id: the order in which the editor shows its fields."""
    if field_id in _GENERAL_ORDER:
        return (0, _GENERAL_ORDER.index(field_id))
    if field_id.startswith("m-"):
        metric, _, key = field_id[2:].partition("-")
        return (1, _position(CLINICAL_METRICS, metric), _position(_ENTRY_ORDER, key))
    if match := _TREND_ID.match(field_id):
        return (2, int(match[1]), _position(_TREND_ORDER, match[2]))
    if field_id.startswith("q-"):
        code, _, key = field_id[2:].rpartition("-")
        return (3, -1, _position(tuple(QUESTIONNAIRES), code),
                _position(tuple(_QUESTIONNAIRE_LABELS), key))
    return (3, _position(_TAIL_ORDER, field_id))


def field_label(field_id: str, tr: Callable[[str], str]) -> str:
    """A readable, translated name of a field for the error summary."""
    if field_id in _PLAIN_LABELS:
        return tr(_PLAIN_LABELS[field_id])
    if field_id.startswith("m-"):
        metric, _, key = field_id[2:].partition("-")
        name = tr(METRICS[metric].display_name) if metric in METRICS else metric
        return f"{name} – {tr(_ENTRY_LABELS.get(key, key))}"
    if match := _TREND_ID.match(field_id):
        return tr(_TREND_RULE).format(n=int(match[1]) + 1) + " – " + tr(
            _TREND_LABELS.get(match[2], match[2]))
    if field_id.startswith("q-"):
        code, _, key = field_id[2:].rpartition("-")
        found = QUESTIONNAIRES.get(code)
        return f"{tr(found.title) if found else code} – {tr(_QUESTIONNAIRE_LABELS.get(key, key))}"
    return field_id


def questionnaire_rows(tr: Callable[[str], str]) -> list[dict[str, Any]]:
    """What the editor shows for each questionnaire of the catalogue."""
    return [{"code": q.code, "title": tr(q.title), "max_score": q.max_score}
            for q in QUESTIONNAIRES.values()]


def metric_rows(tr: Callable[[str], str]) -> list[dict[str, Any]]:
    """What the editor shows for each clinical metric (name, unit, default limits)."""
    rows = []
    for name in CLINICAL_METRICS:
        info = METRICS[name]
        defaults = info.default_bands.to_dict()
        rows.append({
            "metric": name,
            "name": tr(info.display_name),
            "unit": tr(info.display_unit),
            "defaults": {key: fmt_number(value) for key, value in defaults.items()},
        })
    return rows
