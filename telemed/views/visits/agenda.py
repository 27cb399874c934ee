"""The agenda (``GET /visits``): today's visits for a clinician, the next one for a patient."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from telemed import keys
from telemed.db.types import utcnow
from telemed.principal import CLINICIANS, REQUEST_ID, requires
from telemed.services import booking, documents
from telemed.services import visits as service
from telemed.services.pagination import encode_cursor, parse_page
from telemed.views.render import page_user, render, t
from telemed.views.visit_labels import KIND_LABELS
from telemed.views.visits.visit_view import PEOPLE, names_of, visit_view

routes = web.RouteTableDef()
DUE_SHOWN = 10  # the agenda's most recent reports to write; all of them on /visits/reports
DUE_COUNTED = 99  # the agenda counts them up to this ("more than 99" past it)
DUE_PAGE = 50  # reports to write a page of /visits/reports shows


@routes.get("/visits", name="visits")
@requires(*PEOPLE)
async def agenda(request: web.Request) -> web.Response:
    """Today's visits for a clinician; the next visit for a patient."""
    who = await page_user(request)
    settings = request.app[keys.SETTINGS]
    async with request.app[keys.SESSIONS]() as session:
        if who.role == "patient":
            found = await service.next_visit(session, who)
            records = [found] if found else []
        else:
            records = await service.todays_visits(session, who, timezone=settings.timezone)
        await service.authorize_listed(session, who, records, request_id=request[REQUEST_ID])
        patients = await service.patients_of(session, records)
        await session.commit()
        due = [] if who.role == "patient" else await documents.reports_to_write(
            session, who, limit=DUE_SHOWN, request_id=request[REQUEST_ID])
        due_count = len(due) if len(due) < DUE_SHOWN else \
            await documents.reports_to_write_count(session, who, cap=DUE_COUNTED)
        now = utcnow()
        if who.role == "patient":
            upcoming = await booking.upcoming_for_portal(session, who, now)
        else:
            upcoming = await booking.bookings_for(session, who, since=now,
                                                  until=now + timedelta(days=14),
                                                  request_id=request[REQUEST_ID])
    names = await names_of(request, sorted({u for r in records for u in r.participant_ids}))
    visits = [visit_view(request, r, names, patients.get(r.visit.patient_id)) for r in records]
    cutoff = booking.settings_of(settings).cutoff
    return await render(request, "visit_agenda.html", {
        "visits": visits, "is_patient": who.role == "patient",
        "due": _due_rows(request, due), "due_count": due_count, "due_counted": DUE_COUNTED,
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


def _due_rows(request: web.Request, due: list[documents.VisitReportState]) -> list[dict[str, Any]]:
    return [{"id": d.visit.id, "start": d.visit.scheduled_start,
             "patient": f"{d.patient.family_name} {d.patient.given_name}",
             "kind": t(request, KIND_LABELS.get(d.visit.kind, d.visit.kind)),
             "draft": d.report is not None} for d in due]


@routes.get("/visits/reports", name="visit_reports_due")
@requires(*CLINICIANS)
async def reports_due(request: web.Request) -> web.Response:
    """Every report the clinician has to write (the agenda shows the most recent), a page
    at a time, newest first."""
    who = await page_user(request)
    page = parse_page({"limit": str(DUE_PAGE), "cursor": request.query.get("cursor", "")},
                      key=("datetime", "str"))
    async with request.app[keys.SESSIONS]() as session:
        due = await documents.reports_to_write(session, who, limit=page.limit, after=page.after,
                                               request_id=request[REQUEST_ID])
    next_url = None
    if len(due) == page.limit:
        last = due[-1].visit
        next_url = "/visits/reports?cursor=" + encode_cursor(
            [last.scheduled_start.isoformat(), last.id])
    return await render(request, "visit_reports_due.html", {
        "due": _due_rows(request, due), "next_url": next_url})
