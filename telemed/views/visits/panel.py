"""The visits on the patient's page (see docs/visits.md: the lead includes visit_panel.html)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from telemed import keys
from telemed.db.types import utcnow
from telemed.principal import REQUEST_ID, principal
from telemed.services import documents
from telemed.services import visits as service
from telemed.services.pagination import Page
from telemed.services.users import display_names
from telemed.views.render import t
from telemed.views.visit_labels import KIND_LABELS
from telemed.views.visits.visit_view import visit_view


async def visit_panel(request: web.Request, patient_id: str) -> dict[str, Any]:
    """Context for `visit_panel.html`: the patient's open visits; for the care team, the
    last held ones with their report."""
    who = principal(request)
    async with request.app[keys.SESSIONS]() as session:
        page = Page(limit=20, after=None)
        upcoming = await service.list_visits(session, who, page, patient_id=patient_id,
                                             since=utcnow() - timedelta(hours=5),
                                             request_id=request[REQUEST_ID])
        past = [] if not who.is_clinician else await documents.past_visit_reports(
            session, who, patient_id, request_id=request[REQUEST_ID])
        names = await display_names(
            session, sorted({u for rec in upcoming for u in rec.participant_ids}))
    return {
        "upcoming_visits": [
            visit_view(request, rec, names) for rec in upcoming
            if rec.visit.status in service.OPEN_STATUSES
        ],
        "past_visits": [{
            "id": p.visit.id, "start": p.visit.scheduled_start,
            "kind": t(request, KIND_LABELS.get(p.visit.kind, p.visit.kind)),
            "document_id": p.report.id if p.report and p.report.status != "draft" else None,
            "draft": p.report is not None and p.report.status == "draft",
        } for p in past],
        "can_schedule": who.is_clinician,
        "can_manage_guests": who.is_clinician,
        "visit_patient_id": patient_id,
    }
