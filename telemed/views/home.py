"""The home redirect and the patient's own record in plain language."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from telemed import keys
from telemed.domain.bands import Bands
from telemed.domain.units import METRICS
from telemed.errors import ApiError
from telemed.principal import REQUEST_ID, principal, public, requires
from telemed.services import careplans as careplan_service
from telemed.services import my_record as my_record_service
from telemed.services import patients as patient_service
from telemed.services import questionnaires as questionnaire_service
from telemed.services.access import authorize_patient
from telemed.services.delegates import may_act
from telemed.views.careplan_form import fmt_number
from telemed.views.documents import documents_panel
from telemed.views.patient_words import alert_text, due_row, record_query, summary_text
from telemed.views.render import current_user, language_of, render, t
from telemed.views.times import local_time
from telemed.views.visits.panel import visit_panel
from telemed.views.vitals.panel import vitals_panel

routes = web.RouteTableDef()


def home_of(role: str, patient_id: str | None) -> str:
    """Where a user lands after logging in."""
    if role == "patient":
        return "/my-record"
    if role == "admin":
        return "/users"
    return "/patients"


@routes.get("/", name="home")
@public
async def home(request: web.Request) -> web.Response:
    who = current_user(request)
    if who is None:
        raise web.HTTPFound("/login")
    raise web.HTTPFound(home_of(who.role, who.patient_id))


def _join_times(request: web.Request, times: list[str]) -> str:
    """``08:00, 14:00 and 20:00`` (Italian repeats the preposition: ``e alle 20:00``)."""
    if len(times) < 2:
        return "".join(times)
    text = times[0]
    for middle in times[1:-1]:
        text = t(request, "{first}, {next}", first=text, next=middle)
    return t(request, "{first} and {last}", first=text, last=times[-1])


def _usual_range(request: web.Request, entry: dict[str, Any]) -> str | None:
    info = METRICS[entry["metric"]]
    raw = entry.get("bands")
    bands = Bands(**raw) if raw is not None else info.default_bands
    low, high = bands.normal_low, bands.normal_high
    unit = t(request, info.display_unit)
    if low is not None and high is not None:
        return t(request, "Usual range for you: {low} to {high} {unit}.",
                 low=fmt_number(low), high=fmt_number(high), unit=unit)
    if low is not None:
        return t(request, "Usual range for you: at least {low} {unit}.",
                 low=fmt_number(low), unit=unit)
    if high is not None:
        return t(request, "Usual range for you: at most {high} {unit}.",
                 high=fmt_number(high), unit=unit)
    return None


def plain_monitoring(request: web.Request, content: dict[str, Any]) -> list[dict[str, Any]]:
    """What to measure and when, in words a patient understands."""
    items = []
    for entry in content.get("monitoring", []):
        info = METRICS[entry["metric"]]
        schedule = entry.get("schedule", {})
        if schedule.get("continuous"):
            when = t(request, "Your device measures this continuously.")
            window = None
        else:
            when = t(request, "Every day at {times}.",
                     times=_join_times(request, list(schedule.get("times", []))))
            window = t(request, "You may measure up to {minutes} minutes earlier or later.",
                       minutes=schedule.get("tolerance_minutes", 60))
        items.append({"name": t(request, info.display_name), "when": when, "window": window,
                      "range": _usual_range(request, entry)})
    return items


@routes.get("/my-record", name="my_record")
@requires("patient")
async def my_record(request: web.Request) -> web.Response:
    await language_of(request)
    who = principal(request)
    async with request.app[keys.SESSIONS]() as session:
        # A caregiver or a parent sees the records delegated to them (?patient=ID).
        records = await patient_service.own_records(session, who)
        target = (request.query.get("patient") or who.patient_id
                  or next((p.id for p in records), None))
        if target is None:
            raise ApiError(404, "not_found", "No record is linked to your account yet.")
        patient = await patient_service.get_patient(session, who, target, request[REQUEST_ID])
        plans = await careplan_service.list_careplans(session, who, target)
        await authorize_patient(session, who, target, action="read",
                                resource="careteam", request_id=request[REQUEST_ID])
        team = await patient_service.care_team(session, target)
        await session.commit()
        home = await my_record_service.load_home(session, who, target,
                                                 request_id=request[REQUEST_ID])
        asked = await questionnaire_service.planned(session, who, target,
                                                    request_id=request[REQUEST_ID])
        # a delegate only reads until their delegation lets them act
        can_act = target == who.patient_id or await may_act(session, target, who.user_id)
    active = next((plan for plan in plans if plan.status == "active"), None)
    # Visits stay the patient's own (delegates are not part of a visit's audience).
    visits = await visit_panel(request, patient.id) if target == who.patient_id else {}
    docs = await documents_panel(request, patient.id)
    charts = await vitals_panel(request, patient)
    tz_name = patient.timezone
    upcoming = home.next_visit
    return await render(request, "my_record.html", {
        **visits,
        **docs,
        **charts,
        "due": [due_row(request, item, tz_name) for item in home.due],
        "summaries": [summary_text(request, m) for m in home.summaries],
        "patient_alerts": [{"text": alert_text(request, a.message),
                            "when": local_time(request, a.opened_at, tz_name)}
                           for a in home.alerts],
        "next_visit": None if upcoming is None else {
            "id": upcoming.id, "start": upcoming.start, "join_open": upcoming.join_open,
            "opens": local_time(request, upcoming.join_opens, tz_name, "HH:mm")},
        "questionnaires_due": [{"code": p.questionnaire.code,
                                "title": t(request, p.questionnaire.title)}
                               for p in asked if p.due],
        "record_query": record_query(request, target),
        "can_act": can_act,
        "other_records": [p for p in records if p.id != target],
        "own_record": target == who.patient_id,
        "patient": patient,
        "plan": active,
        "measurements": plain_monitoring(request, active.content) if active else [],
        "team": team,
    })
