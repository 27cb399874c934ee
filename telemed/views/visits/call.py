"""The call pages of signed-in users: the patient's check-in and the clinician's room (the call
runs in the browser, web/static/visit/), and the visit's link that leads to the right one."""

from __future__ import annotations

from aiohttp import web

from telemed import keys
from telemed.principal import CLINICIANS, REQUEST_ID, principal, requires
from telemed.services import documents
from telemed.services import visits as service
from telemed.views.render import render
from telemed.views.visit_labels import VISIT_ID
from telemed.views.visits.visit_view import (
    PEOPLE,
    call_context,
    names_of,
    opened_visit,
    visit_view,
    why_not_joinable,
)

routes = web.RouteTableDef()


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
    async with request.app[keys.SESSIONS]() as session:
        who, visit_id, record = await opened_visit(request, session)
        patient = await service.patient_of(session, record)
        role = await service.role_in(session, who, record)
        if role != expected:
            raise web.HTTPFound(f"/visits/{visit_id}")
        report = None if role != "patient" else await documents.document_for_visit(
            session, who, visit_id, request[REQUEST_ID])
    has_report = report is not None and report.status != "draft"
    problem = why_not_joinable(request, record)
    ended = role == "patient" and record.visit.status == "completed"
    names = await names_of(request, list(record.participant_ids))
    return await render(request, template, call_context(
        request, visit_view(request, record, names, patient), problem, ended=ended,
        has_report=has_report))


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
