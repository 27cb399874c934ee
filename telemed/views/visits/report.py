"""The visit's report: a televisit_report document (telemed.views.documents has its page)."""

from __future__ import annotations

from aiohttp import web

from telemed import keys
from telemed.domain.documents import kind_of
from telemed.principal import CLINICIANS, REQUEST_ID, principal, requires
from telemed.services import documents
from telemed.services import visits as service
from telemed.views.forms import read_form
from telemed.views.render import language_of, render, see_other
from telemed.views.visit_labels import VISIT_ID
from telemed.views.visits.visit_view import PEOPLE, names_of, opened_visit, visit_view

routes = web.RouteTableDef()


@routes.get(f"/visits/{VISIT_ID}/report", name="visit_report")
@requires(*PEOPLE)
async def report_page(request: web.Request) -> web.Response:
    """The visit's report: its document, or (a clinician, a held visit) the form that starts
    it."""
    async with request.app[keys.SESSIONS]() as session:
        who, visit_id, record = await opened_visit(request, session)
        doc = await documents.document_for_visit(session, who, visit_id, request[REQUEST_ID])
        patient = await service.patient_of(session, record)
    if doc is not None:
        raise see_other(f"/documents/{doc.id}")
    names = await names_of(request, list(record.participant_ids))
    return await render(request, "visit_report.html", {
        "visit": visit_view(request, record, names, patient),
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
