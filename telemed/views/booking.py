"""Booking pages (docs/booking.md): a clinician's weekly hours and days off; a patient (or a
delegate who acts for them) books, moves or cancels a televisit. Plain forms: every page
works without JavaScript."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from telemed import keys
from telemed.db.types import utcnow
from telemed.domain.booking import BOOKABLE_KINDS, cancel_refusal
from telemed.errors import ApiError
from telemed.principal import CLINICIANS, REQUEST_ID, ensure_csrf_token, principal, requires
from telemed.services import booking as service
from telemed.services import visits as visit_service
from telemed.views.forms import (
    Form,
    FormErrors,
    api_errors,
    form_context,
    parse_date,
    read_form,
    simple_field,
)
from telemed.views.render import N_, flash, language_of, render, see_other, t
from telemed.views.visit_labels import KIND_LABELS, VISIT_ID

routes = web.RouteTableDef()

WEEKDAYS = (N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"),
            N_("Saturday"), N_("Sunday"))
HOURS_FIELDS = {"weekday": N_("Day"), "start": N_("From"), "end": N_("To"),
                "slot_minutes": N_("Minutes per visit"), "kind": N_("Kind of visit")}
DAY_OFF_FIELDS = {"first_day": N_("First day"), "last_day": N_("Last day"),
                  "note": N_("Note (optional)")}
BOOK_FIELDS = {"patient_id": N_("For whom"), "slot_id": N_("Time"),
               "reason": N_("Reason for the visit")}
SPAN = timedelta(days=14)
MAX_SHOWN = 80  # slots on one page; the clinician filter narrows them
TOO_LATE = N_("This visit can no longer be changed online: call your care team.")
Refusals = Callable[[ApiError], FormErrors | None]  # a service's refusal as form errors


def settings_of(request: web.Request) -> service.Settings:
    return service.settings_of(request.app[keys.SETTINGS])


def _zone(request: web.Request) -> ZoneInfo:
    return ZoneInfo(request.app[keys.SETTINGS].timezone)


# The clinician's hours ---------------------------------------------------------------------


async def _hours_page(request: web.Request, *, hours_form: Form | None = None,
                      off_form: Form | None = None, errors: FormErrors | None = None,
                      status: int = 200) -> web.Response:
    await ensure_csrf_token(request)
    who = principal(request)
    async with request.app[keys.SESSIONS]() as session:
        hours, off = await service.availability_of(session, who.user_id)
    errors = errors or FormErrors()
    labels = {k: t(request, v) for k, v in {**HOURS_FIELDS, **DAY_OFF_FIELDS}.items()}
    return await render(request, "availability.html", {
        "hours": [{"id": h.id, "day": t(request, WEEKDAYS[h.weekday]), "start": h.start,
                   "end": h.end, "minutes": h.slot_minutes,
                   "kind": t(request, KIND_LABELS.get(h.kind, h.kind))} for h in hours],
        "days_off": off,
        "weekdays": [(str(i), t(request, d)) for i, d in enumerate(WEEKDAYS)],
        "kinds": [(k, t(request, KIND_LABELS[k])) for k in BOOKABLE_KINDS],
        "hours_form": hours_form or {"weekday": "0", "start": "09:00", "end": "12:00",
                                     "slot_minutes": "20", "kind": "televisit"},
        "off_form": off_form or {},
        "errors": errors, "labels": labels,
        "summary": errors.summary(lambda key: labels.get(key, key)),
        "cutoff": request.app[keys.SETTINGS].booking_cutoff_hours,
    }, status=status)


@routes.get("/availability", name="availability")
@requires(*CLINICIANS)
async def hours_page(request: web.Request) -> web.Response:
    await language_of(request)
    return await _hours_page(request)


def _number(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 4 else None


@routes.post("/availability")
@requires(*CLINICIANS)
async def hours_add(request: web.Request) -> web.Response:
    await language_of(request)
    form = await read_form(request)
    weekday, minutes = _number(form.get("weekday", "")), _number(form.get("slot_minutes", ""))
    errors = FormErrors()
    if weekday is None:
        errors.add("weekday", t(request, "Choose a day."))
    if minutes is None:
        errors.add("slot_minutes", t(request, "Give the minutes as a whole number."))
    if not errors:
        assert weekday is not None and minutes is not None
        errors = await _attempt(request, _field_refusals(request, HOURS_FIELDS),
                                lambda session: service.add_availability(
            session, principal(request), weekday=weekday, start=form.get("start", ""),
            end=form.get("end", ""), slot_minutes=minutes, kind=form.get("kind", "")))
    return await _done(request, errors, N_("Hours published."), "/availability",
                       lambda errors: _hours_page(request, hours_form=form, errors=errors,
                                                  status=422))


async def _attempt(request: web.Request, refusals: Refusals,
                   change: Callable[[Any], Awaitable[object]]) -> FormErrors:
    """Run a service change in a session; a refusal that ``refusals`` names (the others
    are raised) as the form's errors."""
    try:
        async with request.app[keys.SESSIONS]() as session:
            await change(session)
    except ApiError as exc:
        errors = refusals(exc)
        if errors is None:
            raise
        return errors
    return FormErrors()


def _field_refusals(request: web.Request, fields: dict[str, str]) -> Refusals:
    """A 409 or 422 of the service as the errors of the form of ``fields``."""
    return lambda exc: (api_errors(request, exc, simple_field(fields))
                        if exc.status in (409, 422) else None)


async def _done(request: web.Request, errors: FormErrors, message: str, to: str,
                again: Callable[[FormErrors], Awaitable[web.Response]]) -> web.Response:
    """The end of a form: ``again`` with the errors (the form shown anew), else ``message``
    flashed on the page ``to``."""
    if errors:
        return await again(errors)
    await flash(request, message)
    raise see_other(to)


async def _withdraw(request: web.Request, remove: Callable[..., Awaitable[None]], key: str,
                    message: str) -> web.Response:
    await language_of(request)
    async with request.app[keys.SESSIONS]() as session:
        await remove(session, principal(request), request.match_info[key])
    await flash(request, message)
    raise see_other("/availability")


@routes.post("/availability/{rule_id}/delete")
@requires(*CLINICIANS)
async def hours_delete(request: web.Request) -> web.Response:
    return await _withdraw(request, service.delete_availability, "rule_id",
                           N_("Hours withdrawn."))


@routes.post("/availability/days-off")
@requires(*CLINICIANS)
async def day_off_add(request: web.Request) -> web.Response:
    await language_of(request)
    form = await read_form(request)
    first, last = parse_date(form.get("first_day", "")), parse_date(form.get("last_day", ""))
    errors = FormErrors()
    if first is None:
        errors.add("first_day", t(request, "Give a date."))
    if last is None and form.get("last_day", "").strip():
        errors.add("last_day", t(request, "Give a date."))
    if not errors:
        assert first is not None
        errors = await _attempt(request, _field_refusals(request, DAY_OFF_FIELDS),
                                lambda session: service.add_day_off(
            session, principal(request), first_day=first, last_day=last or first,
            note=form.get("note"), today=utcnow().astimezone(_zone(request)).date()))
    return await _done(request, errors, N_("Days off recorded."), "/availability",
                       lambda errors: _hours_page(request, off_form=form, errors=errors,
                                                  status=422))


@routes.post("/availability/days-off/{exception_id}/delete")
@requires(*CLINICIANS)
async def day_off_delete(request: web.Request) -> web.Response:
    return await _withdraw(request, service.delete_day_off, "exception_id",
                           N_("Days off withdrawn."))


# Booking -----------------------------------------------------------------------------------


def _slot_days(request: web.Request, slots: list[service.FreeSlot],
               names: dict[str, str]) -> list[dict[str, Any]]:
    """Free slots grouped by local day, for radio groups."""
    zone = _zone(request)
    days: dict[date, list[dict[str, Any]]] = {}
    for slot in slots[:MAX_SHOWN]:
        local = slot.slot.start.astimezone(zone)
        days.setdefault(local.date(), []).append({
            "id": slot.id, "time": local.strftime("%H:%M"),
            "clinician": names.get(slot.clinician_id, ""),
            "kind": t(request, KIND_LABELS.get(slot.slot.kind, slot.slot.kind)),
        })
    return [{"date": day, "slots": items} for day, items in days.items()]


async def _book_page(request: web.Request, form: Form, errors: FormErrors, *,
                     visit: visit_service.VisitRecord | None = None,
                     status: int = 200) -> web.Response:
    """The booking form (or, with `visit`, the form that moves it)."""
    await ensure_csrf_token(request)
    who = principal(request)
    now = utcnow()
    clinician = (visit.participant_ids[0] if visit and visit.participant_ids
                 else form.get("clinician") or None)
    async with request.app[keys.SESSIONS]() as session:
        people = await service.bookable_clinicians(session)
        patients = await service.portal_patients(session, who) if visit is None else []
        if clinician is not None and clinician not in {p.id for p in people}:
            clinician = None
        slots = await service.free_slots(session, settings_of(request), since=now,
                                         until=now + SPAN, clinician_id=clinician)
    names = {p.id: p.display_name for p in people}
    return await render(request, "visit_book.html", {
        **form_context(request, form, errors, BOOK_FIELDS),
        "clinicians": [(p.id, p.display_name) for p in people],
        "clinician": clinician or "",
        "patients": [(p.id, f"{p.given_name} {p.family_name}") for p in patients],
        "days": _slot_days(request, slots, names),
        "more": len(slots) > MAX_SHOWN,
        "moving": visit,
        "cutoff": request.app[keys.SETTINGS].booking_cutoff_hours,
    }, status=status)


@routes.get("/visits/book", name="visit_book")
@requires("patient")
async def book_form(request: web.Request) -> web.Response:
    await language_of(request)
    form = {"patient_id": request.query.get("patient", "")[:32],
            "clinician": request.query.get("clinician", "")[:32]}
    return await _book_page(request, form, FormErrors())


def _slot_refusals(request: web.Request, *, moving: bool) -> Refusals:
    """A refused booking (or move) as the form's errors: a move past the cut-off, or of a
    visit that was not booked, cannot be made online; a slot taken, too soon or gone is
    chosen again; the form's own problems (422) go to their fields."""
    def refusals(exc: ApiError) -> FormErrors | None:
        if moving and exc.code in ("past_cutoff", "not_booked"):
            return _refused(request)
        if exc.status in (404, 409):
            errors = FormErrors()
            errors.add("slot_id", t(request, "This time is no longer free: choose another."))
            return errors
        return api_errors(request, exc, simple_field(BOOK_FIELDS)) if exc.status == 422 else None
    return refusals


@routes.post("/visits/book")
@requires("patient")
async def book_submit(request: web.Request) -> web.Response:
    await language_of(request)
    form = await read_form(request)
    errors = FormErrors()
    if not form.get("slot_id"):
        errors.add("slot_id", t(request, "Choose a time."))
    if not form.get("reason", "").strip():
        errors.add("reason", t(request, "Say briefly why you need the visit."))
    if not errors:
        errors = await _attempt(request, _slot_refusals(request, moving=False),
                                lambda session: service.book(
            session, principal(request), settings_of(request), slot_id=form["slot_id"],
            reason=form["reason"], patient_id=form.get("patient_id") or None,
            request_id=request[REQUEST_ID]))
    return await _done(request, errors, N_("Visit booked."), "/visits",
                       lambda errors: _book_page(request, form, errors, status=422))


async def _visit(request: web.Request) -> visit_service.VisitRecord:
    async with request.app[keys.SESSIONS]() as session:
        return await visit_service.get_visit(session, principal(request),
                                             request.match_info["visit_id"], request[REQUEST_ID])


@routes.get(f"/visits/{VISIT_ID}/move", name="visit_move")
@requires("patient")
async def move_form(request: web.Request) -> web.Response:
    await language_of(request)
    return await _book_page(request, {}, FormErrors(), visit=await _visit(request))


@routes.post(f"/visits/{VISIT_ID}/move")
@requires("patient")
async def move_submit(request: web.Request) -> web.Response:
    await language_of(request)
    form = await read_form(request)
    record = await _visit(request)
    errors = FormErrors()
    if not form.get("slot_id"):
        errors.add("slot_id", t(request, "Choose a time."))
    else:
        errors = await _attempt(request, _slot_refusals(request, moving=True),
                                lambda session: service.reschedule(
            session, principal(request), settings_of(request), record.visit.id,
            slot_id=form["slot_id"], request_id=request[REQUEST_ID]))
    return await _done(request, errors, N_("Visit moved."), "/visits",
                       lambda errors: _book_page(request, form, errors, visit=record,
                                                 status=422))


@routes.get(f"/visits/{VISIT_ID}/cancel", name="visit_cancel")
@requires("doctor", "nurse", "patient")
async def cancel_form(request: web.Request) -> web.Response:
    await language_of(request)
    await ensure_csrf_token(request)
    record = await _visit(request)
    visit = record.visit
    refusal = cancel_refusal(visit.status, visit.scheduled_start, utcnow(),
                             settings_of(request).cutoff,
                             clinician=principal(request).is_clinician)
    return await _cancel_page(request, record, refusal is not None)


async def _cancel_page(request: web.Request, record: visit_service.VisitRecord,
                       too_late: bool, status: int = 200) -> web.Response:
    """The page that cancels a visit (``too_late``: says that it no longer can, online)."""
    visit = record.visit
    return await render(request, "visit_cancel.html", {
        "visit": visit, "problem": t(request, TOO_LATE) if too_late else None,
        "kind": t(request, KIND_LABELS.get(visit.kind, visit.kind))}, status=status)


@routes.post(f"/visits/{VISIT_ID}/cancel")
@requires("doctor", "nurse", "patient")
async def cancel_submit(request: web.Request) -> web.Response:
    await language_of(request)
    record = await _visit(request)
    errors = await _attempt(request, lambda exc: _refused(request) if exc.status == 409 else None,
                            lambda session: visit_service.cancel_visit(
        session, principal(request), record.visit.id, request[REQUEST_ID],
        cutoff=settings_of(request).cutoff))
    return await _done(request, errors, N_("Visit cancelled."), "/visits",
                       lambda _errors: _cancel_page(request, record, True, status=409))


def _refused(request: web.Request) -> FormErrors:
    """A change the service refused that only the care team can make now."""
    errors = FormErrors()
    errors.add(None, t(request, TOO_LATE))
    return errors
