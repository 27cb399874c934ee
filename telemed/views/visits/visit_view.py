"""What the visit pages show of a visit, and who may open them."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed import keys
from telemed.db.models import Patient
from telemed.db.types import utcnow
from telemed.errors import ApiError
from telemed.principal import REQUEST_ID, Principal, Role, ensure_csrf_token, principal
from telemed.services import visits as service
from telemed.services.users import display_names
from telemed.views.render import language_of, t, t_error
from telemed.views.visit_labels import KIND_LABELS, STATUS_LABELS
from telemed.views.visit_strings import call_strings

PEOPLE: tuple[Role, ...] = ("doctor", "nurse", "patient")


def visit_view(request: web.Request, record: service.VisitRecord,
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


def why_not_joinable(request: web.Request, record: service.VisitRecord) -> str | None:
    """Why the visit cannot be joined now (in the request's language), or None."""
    try:
        service.check_joinable(record.visit)
    except ApiError as exc:
        return t_error(request, exc)
    return None


async def names_of(request: web.Request, user_ids: list[str]) -> dict[str, str]:
    async with request.app[keys.SESSIONS]() as session:
        return await display_names(session, user_ids)


async def opened_visit(request: web.Request, session: AsyncSession
                       ) -> tuple[Principal, str, service.VisitRecord]:
    """The caller, the visit id of the path and the visit, which the caller may read (a page
    with a form: the language and the CSRF token are set)."""
    await language_of(request)
    await ensure_csrf_token(request)
    who = principal(request)
    visit_id = request.match_info["visit_id"]
    return who, visit_id, await service.get_visit(session, who, visit_id, request[REQUEST_ID])


def call_context(request: web.Request, visit: dict[str, Any], problem: str | None, *,
                 ended: bool = False, has_report: bool = False, guest_name: str | None = None,
                 join_url: str | None = None) -> dict[str, Any]:
    """The context of the call pages (check-in, room, a guest's check-in)."""
    return {
        "visit": visit,
        "problem": problem,
        "ended": ended,
        "strings": call_strings(request),
        "has_report": has_report,
        "guest_name": guest_name,
        "join_url": join_url,
    }
