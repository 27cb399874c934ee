"""Scheduling a visit (``/visits/new``): the form, its choices and its checks."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from telemed import keys
from telemed.db.types import utcnow
from telemed.errors import ApiError
from telemed.principal import (
    CLINICIANS,
    REQUEST_ID,
    Principal,
    ensure_csrf_token,
    principal,
    requires,
)
from telemed.services import patients as patient_service
from telemed.services import visits as service
from telemed.views.forms import Form, FormErrors, api_errors, form_context
from telemed.views.render import N_, flash, language_of, render, see_other, t
from telemed.views.visit_labels import KIND_LABELS

routes = web.RouteTableDef()

SCHEDULE_FIELDS = {"kind": N_("Kind of visit"), "patient_id": N_("Patient"),
                   "participant_ids": N_("Clinicians"), "scheduled_start": N_("Start"),
                   "duration_minutes": N_("Duration (minutes)")}


def local_now(request: web.Request, value: datetime) -> datetime:
    return value.astimezone(ZoneInfo(request.app[keys.SETTINGS].timezone))


async def _schedule_choices(request: web.Request, who: Principal) -> dict[str, Any]:
    async with request.app[keys.SESSIONS]() as session:
        patients = await patient_service.choices(session, who, limit=500)
        clinicians = await service.participant_choices(session, limit=500) if patients else []
    return {"patients": patients, "clinicians": clinicians,
            "kinds": [(k, t(request, v)) for k, v in KIND_LABELS.items()]}


async def _schedule_page(request: web.Request, form: Form, errors: FormErrors,
                         status: int = 200) -> web.Response:
    await ensure_csrf_token(request)
    return await render(request, "visit_new.html", {
        **form_context(request, form, errors, SCHEDULE_FIELDS),
        **await _schedule_choices(request, principal(request)),
    }, status=status)


@routes.get("/visits/new", name="visit_new")
@requires(*CLINICIANS)
async def schedule_form(request: web.Request) -> web.Response:
    await language_of(request)
    start = local_now(request, utcnow() + timedelta(minutes=30)).replace(second=0, microsecond=0)
    start = start.replace(minute=start.minute - start.minute % 5)
    form = {"kind": "televisit", "patient_id": request.query.get("patient", "")[:64],
            "participant_ids": principal(request).user_id,
            "date": start.date().isoformat(), "time": start.strftime("%H:%M"),
            "duration_minutes": "20"}
    return await _schedule_page(request, form, FormErrors())


def _start_of(request: web.Request, form: Form) -> datetime | None:
    try:
        naive = datetime.fromisoformat(f"{form.get('date', '')}T{form.get('time', '')}")
    except ValueError:
        return None
    return naive.replace(tzinfo=ZoneInfo(request.app[keys.SETTINGS].timezone))


@routes.post("/visits/new")
@requires(*CLINICIANS)
async def schedule_submit(request: web.Request) -> web.Response:
    await language_of(request)
    posted = await request.post()
    form: Form = {k: v for k, v in posted.items() if isinstance(v, str) and k != "participant_ids"}
    participants = [v for v in posted.getall("participant_ids", []) if isinstance(v, str)]
    form["participant_ids"] = ",".join(participants)
    errors = FormErrors()
    start = _start_of(request, form)
    duration = form.get("duration_minutes", "")
    if start is None:
        errors.add("scheduled_start", t(request, "Give the date and time of the visit."))
    if not (duration.isascii() and duration.isdigit()) or len(duration) > 5:
        errors.add("duration_minutes", t(request, "Give the duration in minutes."))
    if errors:
        return await _schedule_page(request, form, errors, status=422)
    assert start is not None
    try:
        async with request.app[keys.SESSIONS]() as session:
            record = await service.schedule_visit(
                session, principal(request), kind=form.get("kind", ""),
                patient_id=form.get("patient_id", ""), participant_ids=participants,
                scheduled_start=start, duration_minutes=int(duration),
                request_id=request[REQUEST_ID])
    except ApiError as exc:
        if exc.status != 422:
            raise
        errors = api_errors(request, exc, lambda path: path.split("[")[0])
        return await _schedule_page(request, form, errors, status=422)
    await flash(request, "Visit scheduled.")
    raise see_other(f"/visits/{record.visit.id}/room")
