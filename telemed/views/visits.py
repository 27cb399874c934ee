"""Visit pages: the agenda, scheduling, the patient's check-in, the clinician's room, the report.

The call itself runs in the browser (web/static/visit/*.js); these handlers render the
pages, check who may open them, and hand the scripts their strings through a JSON data
block (the CSP allows no inline script).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from telemed import keys
from telemed.db.models import Patient
from telemed.db.types import utcnow
from telemed.domain.documents import kind_of
from telemed.errors import ApiError
from telemed.principal import (
    CLINICIANS,
    REQUEST_ID,
    Principal,
    Role,
    ensure_csrf_token,
    principal,
    public,
    requires,
)
from telemed.services import booking, documents
from telemed.services import patients as patient_service
from telemed.services import visit_guests as guests
from telemed.services import visits as service
from telemed.services.pagination import Page
from telemed.services.turn import join_details
from telemed.services.users import display_names
from telemed.views import booking as booking_pages
from telemed.views import visit_guests
from telemed.views.forms import Form, FormErrors, api_errors, read_form
from telemed.views.render import N_, flash, language_of, render, see_other, t, t_error
from telemed.views.visit_labels import KIND_LABELS, STATUS_LABELS, VISIT_ID
from telemed.views.visit_strings import call_strings

routes = web.RouteTableDef()

PEOPLE: tuple[Role, ...] = ("doctor", "nurse", "patient")
SCHEDULE_FIELDS = {"kind": N_("Kind of visit"), "patient_id": N_("Patient"),
                   "participant_ids": N_("Clinicians"), "scheduled_start": N_("Start"),
                   "duration_minutes": N_("Duration (minutes)")}


def setup_visit_pages(app: web.Application) -> None:
    """The visit pages (templates and static files come from `setup_views`); the booking
    pages first, so that /visits/book is not taken for a visit id."""
    app.router.add_routes(booking_pages.routes)
    app.router.add_routes(routes)
    app.router.add_routes(visit_guests.routes)


def _local(request: web.Request, value: datetime) -> datetime:
    return value.astimezone(ZoneInfo(request.app[keys.SETTINGS].timezone))


def _visit_view(request: web.Request, record: service.VisitRecord,
                names: dict[str, str], patient: Patient | None = None) -> dict[str, Any]:
    visit = record.visit
    opens, closes = service.join_window(visit)
    now = utcnow()
    return {
        "id": visit.id,
        "kind": t(request, KIND_LABELS.get(visit.kind, visit.kind)),
        "status": visit.status,
        "status_label": t(request, STATUS_LABELS.get(visit.status, visit.status)),
        "start": visit.scheduled_start,
        "end": service.scheduled_end(visit),
        "duration": visit.duration_minutes,
        "opens": opens,
        "open_now": visit.status in service.OPEN_STATUSES and opens <= now <= closes,
        "too_early": now < opens,
        "clinicians": [names.get(uid, "") for uid in record.participant_ids],
        "patient": patient,
    }


def _why_not_joinable(request: web.Request, record: service.VisitRecord) -> str | None:
    """Why the visit cannot be joined now (in the request's language), or None."""
    try:
        service.check_joinable(record.visit)
    except ApiError as exc:
        return t_error(request, exc)
    return None


async def _names(request: web.Request, user_ids: list[str]) -> dict[str, str]:
    async with request.app[keys.SESSIONS]() as session:
        return await display_names(session, user_ids)


# Agenda ------------------------------------------------------------------------


@routes.get("/visits", name="visits")
@requires(*PEOPLE)
async def agenda(request: web.Request) -> web.Response:
    """Today's visits for a clinician; the next visit for a patient."""
    await language_of(request)
    who = principal(request)
    settings = request.app[keys.SETTINGS]
    async with request.app[keys.SESSIONS]() as session:
        if who.role == "patient":
            found = await service.next_visit(session, who)
            records = [found] if found else []
        else:
            records = await service.todays_visits(session, who, timezone=settings.timezone)
        for record in records:
            await service.authorize_visit(session, who, record, action="read",
                                          request_id=request[REQUEST_ID])
        patients = await service.patients_of(session, records)
        await session.commit()
        now = utcnow()
        if who.role == "patient":
            upcoming = await booking.upcoming_for_portal(session, who, now)
        else:
            upcoming = await booking.bookings_for(session, who, since=now,
                                                  until=now + timedelta(days=14),
                                                  request_id=request[REQUEST_ID])
    names = await _names(request, sorted({u for r in records for u in r.participant_ids}))
    visits = [_visit_view(request, r, names, patients.get(r.visit.patient_id)) for r in records]
    cutoff = timedelta(hours=settings.booking_cutoff_hours)
    return await render(request, "visit_agenda.html", {
        "visits": visits, "is_patient": who.role == "patient",
        "upcoming": [{
            "id": b.visit.id, "start": b.visit.scheduled_start,
            "kind": t(request, KIND_LABELS.get(b.visit.kind, b.visit.kind)),
            "patient": f"{b.patient.given_name} {b.patient.family_name}",
            "own": b.patient.id == who.patient_id,
            "reason": b.booking.reason if b.booking else None,
            "movable": b.booking is not None and b.visit.status == "scheduled"
            and b.visit.scheduled_start - cutoff >= now,
            "cancellable": b.visit.scheduled_start - cutoff >= now,
            "open_now": service.join_window(b.visit)[0] <= now <= service.join_window(b.visit)[1],
        } for b in upcoming],
    })


# Scheduling --------------------------------------------------------------------


async def _schedule_choices(request: web.Request, who: Principal) -> dict[str, Any]:
    async with request.app[keys.SESSIONS]() as session:
        patients = await patient_service.choices(session, who, limit=500)
        clinicians = await service.participant_choices(session, limit=500) if patients else []
    return {"patients": patients, "clinicians": clinicians,
            "kinds": [(k, t(request, v)) for k, v in KIND_LABELS.items()]}


async def _schedule_page(request: web.Request, form: Form, errors: FormErrors,
                         status: int = 200) -> web.Response:
    await ensure_csrf_token(request)
    labels = {key: t(request, label) for key, label in SCHEDULE_FIELDS.items()}
    return await render(request, "visit_new.html", {
        "form": form, "errors": errors, "labels": labels,
        "summary": errors.summary(lambda key: labels.get(key, key)),
        **await _schedule_choices(request, principal(request)),
    }, status=status)


@routes.get("/visits/new", name="visit_new")
@requires(*CLINICIANS)
async def schedule_form(request: web.Request) -> web.Response:
    await language_of(request)
    start = _local(request, utcnow() + timedelta(minutes=30)).replace(second=0, microsecond=0)
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


@routes.get(f"/visits/{VISIT_ID}", name="visit")
@requires(*PEOPLE)
async def visit_entry(request: web.Request) -> web.Response:
    """The link in invitations and calendars: the right page for the caller's role."""
    visit_id = request.match_info["visit_id"]
    async with request.app[keys.SESSIONS]() as session:
        record = await service.get_visit(session, principal(request), visit_id,
                                         request[REQUEST_ID])
    if record.visit.status == "completed":
        raise web.HTTPFound(f"/visits/{visit_id}/report")
    if principal(request).role == "patient":
        raise web.HTTPFound(f"/visits/{visit_id}/check-in")
    raise web.HTTPFound(f"/visits/{visit_id}/room")


# The call pages ------------------------------------------------------------------


async def _call_page(request: web.Request, template: str, expected: str) -> web.Response:
    await language_of(request)
    await ensure_csrf_token(request)
    who = principal(request)
    visit_id = request.match_info["visit_id"]
    async with request.app[keys.SESSIONS]() as session:
        record = await service.get_visit(session, who, visit_id, request[REQUEST_ID])
        patient = await service.patient_of(session, record)
        role = await service.role_in(session, who, record)
        if role != expected:
            raise web.HTTPFound(f"/visits/{visit_id}")
        report = None if role != "patient" else await documents.document_for_visit(
            session, who, visit_id, request[REQUEST_ID])
    has_report = report is not None and report.status != "draft"
    problem = _why_not_joinable(request, record)
    ended = role == "patient" and record.visit.status == "completed"
    names = await _names(request, list(record.participant_ids))
    return await render(request, template, {
        "visit": _visit_view(request, record, names, patient),
        "problem": problem,
        "ended": ended,
        "strings": call_strings(request),
        "has_report": has_report,
        "guest_name": None,
        "join_url": None,
    })


@routes.get(f"/visits/{VISIT_ID}/check-in", name="visit_checkin")
@requires("patient")
async def check_in(request: web.Request) -> web.Response:
    """The patient's page: camera and microphone check, pre-call test, waiting room, call."""
    return await _call_page(request, "visit_checkin.html", "patient")


@routes.get(f"/visits/{VISIT_ID}/room", name="visit_room")
@requires(*CLINICIANS)
async def room(request: web.Request) -> web.Response:
    """The clinician's room: knocking patients, video grid, chat, end of visit."""
    return await _call_page(request, "visit_room.html", "clinician")


# Guests (no account: a one-time link, then a cookie scoped to the guest's page) ----------


def _guest_path(visit_id: str) -> str:
    return f"/visits/{visit_id}/guest"


@routes.get(f"/visits/{VISIT_ID}/guest", name="visit_guest")
@public  # the one-time link or the guest cookie is checked here
async def guest_page(request: web.Request) -> web.StreamResponse:
    """A guest's check-in: camera and microphone, the waiting room, then the call."""
    await language_of(request)
    visit_id = request.match_info["visit_id"]
    settings = request.app[keys.SETTINGS]
    path = _guest_path(visit_id)
    cookie = request.cookies.get(guests.COOKIE_NAME)
    token = request.query.get("t")
    async with request.app[keys.SESSIONS]() as session:
        if token is not None:
            _guest, value = await guests.open_link(session, settings.secret_key, visit_id,
                                                   token, cookie=cookie)
            # Drop the token from the address bar (and from any Referer).
            moved = web.Response(status=303, headers={"Location": path,
                                                      "Cache-Control": "no-store"})
            moved.set_cookie(guests.COOKIE_NAME, value, path=path, httponly=True,
                             samesite="Lax",
                             secure=settings.effective_public_url.startswith("https://"))
            return moved
        guest = await guests.guest_of_cookie(session, settings.secret_key, visit_id, cookie)
        record = await service.load_visit(session, visit_id)
    problem = _why_not_joinable(request, record)
    names = await _names(request, list(record.participant_ids))
    response = await render(request, "visit_checkin.html", {
        "visit": _visit_view(request, record, names),
        "problem": problem,
        "ended": False,
        "strings": call_strings(request),
        "has_report": False,
        "guest_name": guest.name,
        "join_url": f"{path}/join",
    })
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@routes.get(f"/visits/{VISIT_ID}/guest/join", name="visit_guest_join")
@public  # the guest cookie is checked here
async def guest_join(request: web.Request) -> web.Response:
    """The guest's join details, like `GET /api/v1/visits/{id}/join` for signed-in users."""
    visit_id = request.match_info["visit_id"]
    settings = request.app[keys.SETTINGS]
    async with request.app[keys.SESSIONS]() as session:
        guest = await guests.guest_of_cookie(session, settings.secret_key, visit_id,
                                             request.cookies.get(guests.COOKIE_NAME))
        record = await service.load_visit(session, visit_id)
    service.check_joinable(record.visit)
    details = join_details(settings, visit_id, guests.guest_user_id(guest.id), "guest")
    return web.json_response(details, headers={"Cache-Control": "no-store"})


# The report: a televisit_report document (telemed.views.documents has its page) -------


@routes.get(f"/visits/{VISIT_ID}/report", name="visit_report")
@requires(*PEOPLE)
async def report_page(request: web.Request) -> web.Response:
    """The visit's report: its document, or (a clinician, a held visit) the form that starts
    it."""
    await language_of(request)
    await ensure_csrf_token(request)
    who = principal(request)
    visit_id = request.match_info["visit_id"]
    async with request.app[keys.SESSIONS]() as session:
        record = await service.get_visit(session, who, visit_id, request[REQUEST_ID])
        doc = await documents.document_for_visit(session, who, visit_id, request[REQUEST_ID])
        patient = await service.patient_of(session, record)
    if doc is not None:
        raise see_other(f"/documents/{doc.id}")
    names = await _names(request, list(record.participant_ids))
    return await render(request, "visit_report.html", {
        "visit": _visit_view(request, record, names, patient),
        "can_write": who.is_clinician and record.visit.status in documents.REPORTABLE_VISITS,
        "sections": [{"key": s.key, "title": s.title(await language_of(request)),
                      "required": s.required}
                     for s in kind_of("televisit_report").sections],
    })


@routes.post(f"/visits/{VISIT_ID}/report")
@requires(*CLINICIANS)
async def report_submit(request: web.Request) -> web.Response:
    """Start the report as a draft with what was written; it is signed on its page."""
    await language_of(request)
    form = await read_form(request)
    sections = {k.removeprefix("section_"): v for k, v in form.items()
                if k.startswith("section_")}
    async with request.app[keys.SESSIONS]() as session:
        doc = await documents.draft_visit_report(
            session, principal(request), request.match_info["visit_id"], sections,
            language=await language_of(request), request_id=request[REQUEST_ID])
    raise see_other(f"/documents/{doc.id}")


# For the patient's page (see docs/visits.md: the lead includes visit_panel.html) ---------


async def visit_panel(request: web.Request, patient_id: str) -> dict[str, Any]:
    """Context for `visit_panel.html`: the patient's open visits."""
    who = principal(request)
    async with request.app[keys.SESSIONS]() as session:
        page = Page(limit=20, after=None)
        upcoming = await service.list_visits(session, who, page, patient_id=patient_id,
                                             since=utcnow() - timedelta(hours=5),
                                             request_id=request[REQUEST_ID])
        names = await display_names(
            session, sorted({u for rec in upcoming for u in rec.participant_ids}))
    return {
        "upcoming_visits": [
            _visit_view(request, rec, names) for rec in upcoming
            if rec.visit.status in service.OPEN_STATUSES
        ],
        "can_schedule": who.is_clinician,
        "can_manage_guests": who.is_clinician,
        "visit_patient_id": patient_id,
    }
