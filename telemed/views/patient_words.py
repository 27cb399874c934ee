"""The patient's side in words: codes of `telemed.domain.patient_view` translated here, and
the record a patient's page is about (their own, or a delegated one with ``?patient=``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from telemed.domain.patient_view import DueItem, PlainMessage
from telemed.principal import principal
from telemed.views.render import N_, t
from telemed.views.times import local_time
from telemed.views.vitals.values import metric_label, number, unit_of

# {metric} is the metric's name in lower case, {delta}/{value} with its unit.
SUMMARIES = {
    "no_readings": N_("{Metric}: no reading this week."),
    "weight_up": N_("Your weight is {delta} {unit} up this week."),
    "weight_down": N_("Your weight is {delta} {unit} down this week."),
    "weight_steady": N_("Your weight is about the same as a week ago."),
    "usual_range": N_("{Metric}: your latest reading, {value} {unit}, is in your usual range."),
    "above_usual": N_("{Metric}: your latest reading, {value} {unit}, is above your usual "
                      "range."),
    "below_usual": N_("{Metric}: your latest reading, {value} {unit}, is below your usual "
                      "range."),
}
TOLD = N_("Your care team has been told.")

ALERTS = {
    "alert_reading_outside": N_("A {metric} reading was outside your usual range."),
    "alert_change": N_("Your {metric} has changed over the last days."),
    "alert_readings_together": N_("Your recent readings, taken together, need a look from "
                                  "your care team."),
    "alert_missed": N_("A {metric} measurement did not reach us."),
    "alert_device_quiet": N_("One of your devices has not sent anything for a while. Check "
                             "that it is switched on and charged."),
    "alert_answers": N_("Your answers to a questionnaire were passed on to your care team."),
    "alert_other": N_("Your care team has a note about your readings."),
}
SEEN = N_("Someone of your care team has already looked at it.")
NOT_SEEN = N_("Your care team has been told and will contact you if needed.")

DUE = {
    "received": N_("Received at {time}"),
    "late": N_("Received later, at {time}"),
    "missing": N_("Not received"),
    "now": N_("To do now"),
    "later": N_("Later today"),
}


def _metric_words(request: web.Request, metric: str | None) -> dict[str, str]:
    if not metric:
        return {"metric": "", "Metric": ""}
    label = metric_label(request, metric)
    return {"metric": label.lower(), "Metric": label}


def summary_text(request: web.Request, message: PlainMessage) -> str:
    """One metric of the week in words, with whether the team was told."""
    params: dict[str, Any] = dict(message.params)
    metric = str(params.get("metric") or "")
    words = _metric_words(request, metric)
    for key in ("delta", "value"):
        if key in params:
            params[key] = number(request, metric, float(params[key]))
    text = t(request, SUMMARIES[message.code], unit=unit_of(request, metric),
             delta=params.get("delta", ""), value=params.get("value", ""), **words)
    if params.get("told"):
        text = f"{text} {t(request, TOLD)}"
    return text


def alert_text(request: web.Request, message: PlainMessage) -> str:
    """An alert of the patient's, calmly."""
    words = _metric_words(request, message.params.get("metric"))
    text = t(request, ALERTS.get(message.code, ALERTS["alert_other"]), **words)
    return f"{text} {t(request, SEEN if message.params.get('seen') else NOT_SEEN)}"


def due_row(request: web.Request, item: DueItem, tz_name: str) -> dict[str, Any]:
    """One measurement of today, for the page."""
    status = t(request, DUE[item.status],
               time=local_time(request, item.reading_time, tz_name, "HH:mm")
               if item.reading_time else "")
    return {"metric": item.metric, "name": metric_label(request, item.metric),
            "time": local_time(request, item.window.due, tz_name, "HH:mm"),
            "status": item.status, "status_text": status}


def record_target(request: web.Request) -> str:
    """The record a patient's page is about: ``?patient=`` (a delegate's) or their own."""
    target = request.query.get("patient") or principal(request).patient_id
    if not target:
        raise web.HTTPFound("/my-record")
    return target


def record_query(request: web.Request, target: str) -> str:
    """The query that keeps a delegate on the record they opened (empty for one's own)."""
    return "" if target == principal(request).patient_id else f"?patient={target}"
