"""Teleconsult pages (docs/teleconsult.md): the inbox and sent requests, the request form,
and one request with its conversation, attachments and the image viewer. The pages' script
(`web/static/teleconsult/page.js`) acts through the JSON API, the same rules and audit."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from telemed import keys
from telemed.db.teleconsults import Teleconsult
from telemed.domain import teleconsults as rules
from telemed.principal import CLINICIANS, principal, requires
from telemed.services import patients as patient_service
from telemed.services import teleconsult_reports as reports
from telemed.services import teleconsults as service
from telemed.services.attachments import authorize_target, list_attachments
from telemed.views.documents import STATUS_LABELS as DOCUMENT_STATUS
from telemed.views.documents import signing_context
from telemed.views.render import N_, language_of, render, t

routes = web.RouteTableDef()

STATUS_LABELS = {
    "requested": N_("Requested"), "info_requested": N_("More information asked"),
    "accepted": N_("Accepted"), "scheduled": N_("Teleconsult scheduled"),
    "answered": N_("Answered"), "declined": N_("Declined"), "cancelled": N_("Withdrawn"),
}
SPECIALTY_LABELS = {
    "cardiology": N_("Cardiology"), "pulmonology": N_("Pulmonology"),
    "diabetology": N_("Diabetology"), "nephrology": N_("Nephrology"),
    "neurology": N_("Neurology"), "radiology": N_("Radiology"),
    "geriatrics": N_("Geriatrics"), "internal_medicine": N_("Internal medicine"),
}
NOTE_LABELS = {
    "accept": N_("Accepted"), "decline": N_("Declined"), "more_info": N_("Asked for more"),
    "add_info": N_("Added information"), "cancel": N_("Withdrawn"),
    "schedule": N_("Scheduled the teleconsult"),
}
def _row(request: web.Request, consult: Teleconsult, patient: Any) -> dict[str, Any]:
    return {"consult": consult, "patient": patient,
            "status": t(request, STATUS_LABELS.get(consult.status, consult.status)),
            "specialty": t(request, SPECIALTY_LABELS.get(consult.specialty or "", ""))
            if consult.specialty else ""}


@routes.get("/teleconsults", name="teleconsults")
@requires(*CLINICIANS)
async def teleconsults_page(request: web.Request) -> web.Response:
    await language_of(request)
    who = principal(request)
    async with request.app[keys.SESSIONS]() as session:
        inbox = await service.inbox(session, who, box="inbox")
        sent = await service.inbox(session, who, box="sent")
    return await render(request, "teleconsults.html", {
        "inbox": [_row(request, c, p) for c, p in inbox],
        "sent": [_row(request, c, p) for c, p in sent],
    })


@routes.get("/teleconsults/new", name="teleconsult_new")
@requires(*CLINICIANS)
async def teleconsult_new(request: web.Request) -> web.Response:
    await language_of(request)
    who = principal(request)
    async with request.app[keys.SESSIONS]() as session:
        patients = await patient_service.choices(session, who, limit=500)
        doctors = await service.specialists(session)
    return await render(request, "teleconsult_new.html", {
        "patients": patients, "chosen": request.query.get("patient", "")[:64],
        "doctors": [(u, [t(request, SPECIALTY_LABELS[s]) for s in specs])
                    for u, specs in doctors if u.id != who.user_id],
        "specialties": [(s, t(request, SPECIALTY_LABELS[s])) for s in rules.SPECIALTIES],
    })


@routes.get("/teleconsults/{teleconsult_id}", name="teleconsult")
@requires(*CLINICIANS)
async def teleconsult_page(request: web.Request) -> web.Response:
    await language_of(request)
    who = principal(request)
    consult_id = request.match_info["teleconsult_id"]
    async with request.app[keys.SESSIONS]() as session:
        view = await service.get_request(session, who, consult_id)
        target = await authorize_target(session, who, "teleconsult", consult_id,
                                        action="read")
        attached = await list_attachments(session, target)
        report = await reports.report_of(session, who, view.consult.document_id)
        signing = await signing_context(session, who, report) if report else None
    consult = view.consult
    mine = view.role
    actions: list[str] = []
    actor: rules.Actor = "requester" if mine == "requester" else "specialist"
    for action in ("accept", "more_info", "decline", "add_info", "cancel", "schedule",
                   "answer"):
        if mine != "team" and rules.next_status(consult.status, action, actor,
                                                consult.mode) is not None \
                and (mine != "member" or action in ("accept", "more_info", "decline")):
            actions.append(action)
    return await render(request, "teleconsult.html", {
        "view": view, "consult": consult, "mine": mine, "actions": actions,
        "status": t(request, STATUS_LABELS.get(consult.status, consult.status)),
        "specialty": t(request, SPECIALTY_LABELS.get(consult.specialty or "", ""))
        if consult.specialty else "",
        "notes": [(n, t(request, NOTE_LABELS.get(n.action, n.action))) for n in view.notes],
        "attachments": attached,
        "can_attach": mine in ("requester", "specialist") and consult.status in rules.OPEN,
        "can_see_images": mine in ("requester", "team") or rules.grants_access(consult.status),
        "report": report, "signing": signing, "next_url": f"/teleconsults/{consult.id}#report",
        "report_status": t(request, DOCUMENT_STATUS[report.status]) if report else "",
    })
