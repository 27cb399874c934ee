"""CarePlan: the current version of a care plan (PAI), its goals and monitoring in plain text."""

from __future__ import annotations

from typing import Any

from telemed.api.fhir.common import LOINC, coding, fhir_date, instant, reference
from telemed.api.fhir.search import SearchParam, SearchQuery, token_codes
from telemed.api.fhir.spec import loaded, record_spec, rendered
from telemed.db.models import CarePlan
from telemed.domain.bands import Bands
from telemed.domain.careplans import (
    CarePlanContent,
    MonitoringEntry,
    TimedSchedule,
    TrendRule,
    parse_careplan_content,
)
from telemed.domain.errors import DomainValidationError
from telemed.domain.schedule import format_time
from telemed.domain.units import METRICS
from telemed.services.fhir_rows import CAREPLANS, careplan_conditions, current_careplan

STATUSES = frozenset({"draft", "active", "completed"})
ACTIVITY_STATUS = {"draft": "not-started", "active": "in-progress", "completed": "completed"}


def _number(value: float) -> str:
    return f"{value:g}"


def _bands_text(bands: Bands | None, unit: str) -> str:
    if bands is None:
        return "Alerts at the platform's default thresholds."
    if bands.is_empty:
        return "No threshold alerts."
    parts = []
    for label, low, high in (("warning", bands.warning_low, bands.warning_high),
                             ("critical", bands.critical_low, bands.critical_high)):
        sides = []
        if low is not None:
            sides.append(f"below {_number(low)}")
        if high is not None:
            sides.append(f"above {_number(high)}")
        if sides:
            parts.append(f"{label} {' or '.join(sides)} {unit}")
    return f"Alert: {'; '.join(parts)}."


def monitoring_text(entry: MonitoringEntry) -> str:
    """One monitoring entry in words (what, when, which values alert)."""
    info = METRICS[entry.metric]
    if isinstance(entry.schedule, TimedSchedule):
        times = ", ".join(format_time(t) for t in entry.schedule.times)
        when = f"measure daily at {times} (± {entry.schedule.tolerance_minutes} min)."
    else:
        when = "measured continuously."
    text = f"{info.display_name}: {when} {_bands_text(entry.bands, info.display_unit)}"
    if entry.confirm_count > 1:
        text += f" An alert needs {entry.confirm_count} consecutive out-of-range readings."
    return text


def trend_text(trend: TrendRule) -> str:
    """One trend rule in words."""
    info = METRICS[trend.metric]
    return (f"Trend alert ({trend.severity}): {info.display_name} changes by "
            f"{trend.delta:+g} {info.display_unit} within {trend.window_hours} h.")


def _activity(entry: MonitoringEntry, status: str) -> dict[str, Any]:
    info = METRICS[entry.metric]
    detail: dict[str, Any] = {"status": ACTIVITY_STATUS.get(status, "unknown")}
    if info.loinc:
        codes = (info.loinc, *info.extra_loinc)
        detail["code"] = {"coding": [coding(LOINC, c) for c in codes],
                          "text": info.display_name}
    if isinstance(entry.schedule, TimedSchedule):
        times = entry.schedule.times
        detail["scheduledTiming"] = {"repeat": {
            "frequency": len(times), "period": 1, "periodUnit": "d",
            "timeOfDay": [f"{format_time(t)}:00" for t in times],
        }}
    detail["description"] = monitoring_text(entry)
    return {"detail": detail}


def _content(plan: CarePlan) -> CarePlanContent:
    try:
        return parse_careplan_content(plan.content)
    except DomainValidationError:  # a row written by an older version: keep what is readable
        goals = plan.content.get("goals")
        if not isinstance(goals, list):
            return CarePlanContent()
        return CarePlanContent(goals=tuple(g for g in goals if isinstance(g, str)))


def careplan_resource(plan: CarePlan) -> dict[str, Any]:
    """A FHIR R4 CarePlan from the current version of a care plan."""
    content = _content(plan)
    changed = max(t for t in (plan.created_at, plan.activated_at, plan.completed_at) if t)
    period: dict[str, str] = {"start": fhir_date(plan.period_start)}
    if plan.period_end is not None:
        period["end"] = fhir_date(plan.period_end)
    resource: dict[str, Any] = {
        "resourceType": "CarePlan",
        "id": plan.plan_id,
        "meta": {"versionId": str(plan.version), "lastUpdated": instant(changed)},
        "status": plan.status if plan.status in STATUSES else "unknown",
        "intent": "plan",
        "title": plan.title,
        "subject": reference("Patient", plan.patient_id),
        "period": period,
        "created": instant(plan.created_at),
        "author": reference("Practitioner", plan.created_by),
    }
    if content.goals:
        resource["description"] = "Goals: " + "; ".join(content.goals)
    activities = [_activity(entry, plan.status) for entry in content.monitoring]
    if activities:
        resource["activity"] = activities
    notes = [trend_text(t) for t in content.trends]
    if content.news2.enabled:
        notes.append(f"NEWS2 scoring enabled (SpO2 scale {content.news2.spo2_scale}"
                     f"{', on oxygen' if content.news2.on_oxygen else ''}).")
    if notes:
        resource["note"] = [{"text": n} for n in notes]
    return resource


# --- search and read ----------------------------------------------------------------------


def _conditions(query: SearchQuery) -> list[Any]:
    return careplan_conditions([token_codes(alts) for alts in query.all_of("status")])


SPEC = record_spec(
    type="CarePlan",
    audit_resource="fhir_careplan",
    table=CAREPLANS,
    key_types=("date", "str"),
    render=rendered(careplan_resource),
    load=loaded(current_careplan, careplan_resource),
    params=(SearchParam("status", "token", "draft, active or completed."),),
    conditions=_conditions,
    documentation="The current version of each care plan (meta.versionId is the version).",
)
