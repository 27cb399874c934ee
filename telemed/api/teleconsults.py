"""Teleconsult requests and attachments (CONTRACT §9, docs/teleconsult.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

from aiohttp import web
from pydantic import Field

from telemed import keys
from telemed.api.common import (
    Body,
    body,
    call,
    listing,
    ok,
    parse_body,
    request_id,
    sessions,
    validate,
)
from telemed.api.shapes import iso
from telemed.db.teleconsults import Attachment, Teleconsult
from telemed.domain import teleconsults as rules
from telemed.errors import ApiError
from telemed.i18n import negotiate
from telemed.imaging.setup import IMAGING
from telemed.principal import CLINICIANS, Role, principal, requires
from telemed.services import attachments as files
from telemed.services import teleconsult_reports as reports
from telemed.services import teleconsults as service

routes = web.RouteTableDef()
ID = "{teleconsult_id}"
ATTACHMENT_ROLES: tuple[Role, ...] = ("doctor", "nurse", "patient")


class TeleconsultCreate(Body):
    patient_id: str = Field(min_length=1, max_length=64)
    specialist_id: str | None = Field(default=None, min_length=1, max_length=64)
    specialty: str | None = Field(default=None, min_length=1, max_length=32)
    question: str = Field(max_length=rules.MAX_QUESTION + 100)
    urgency: Literal["routine", "urgent"] = "routine"
    mode: Literal["live", "async"] = "async"
    include_patient: bool = False  # a live consult: the visit invites the patient too


class NoteIn(Body):
    text: str | None = Field(default=None, max_length=rules.MAX_NOTE + 100)


class ScheduleIn(Body):
    scheduled_start: datetime
    duration_minutes: int = 30


class AnswerIn(Body):
    text: str = Field(max_length=rules.MAX_ANSWER + 100)


class StudyRef(Body):
    study_instance_uid: str = Field(min_length=1, max_length=64)


def consult_brief(consult: Teleconsult) -> dict[str, Any]:
    return {
        "id": consult.id, "patient_id": consult.patient_id,
        "requester_id": consult.requester_id, "specialist_id": consult.specialist_id,
        "specialty": consult.specialty, "question": consult.question,
        "urgency": consult.urgency, "mode": consult.mode, "status": consult.status,
        "include_patient": consult.include_patient,
        "visit_id": consult.visit_id, "document_id": consult.document_id,
        "created_at": iso(consult.created_at), "updated_at": iso(consult.updated_at),
        "accepted_at": iso(consult.accepted_at), "closed_at": iso(consult.closed_at),
    }


def consult_out(view: service.ConsultView) -> dict[str, Any]:
    answer = view.answer
    return {
        **consult_brief(view.consult),
        "patient": {"id": view.patient.id, "given_name": view.patient.given_name,
                    "family_name": view.patient.family_name},
        "names": view.names,
        "notes": [{"action": n.action, "author_id": n.author_id, "text": n.text,
                   "at": iso(n.at)} for n in view.notes],
        "answer": None if answer is None else {
            "author_id": answer.author_id, "text": answer.text,
            "signed_at": iso(answer.signed_at), "content_hash": answer.content_hash,
            "intact": service.answer_intact(answer)},
        "my_role": view.role,
    }


def attachment_out(row: Attachment) -> dict[str, Any]:
    return {
        "id": row.id, "kind": row.kind, "media_type": row.media_type,
        "filename": row.filename, "size": row.size, "sha256": row.sha256,
        "study_instance_uid": row.study_uid, "teleconsult_id": row.teleconsult_id,
        "visit_id": row.visit_id, "reconciled": row.reconciled_from is not None,
        "created_by": row.created_by, "created_at": iso(row.created_at),
        "url": f"/api/v1/attachments/{row.id}" if row.kind == "file" else None,
    }


@routes.post("/api/v1/teleconsults")
@requires(*CLINICIANS)
async def teleconsults_create(request: web.Request) -> web.Response:
    data = await body(request, TeleconsultCreate)
    async with sessions(request)() as session:
        consult = await service.create_request(
            session, principal(request), patient_id=data.patient_id, question=data.question,
            urgency=data.urgency, mode=data.mode, specialist_id=data.specialist_id,
            specialty=data.specialty, include_patient=data.include_patient,
            request_id=request_id(request))
        view = await service.get_request(session, principal(request), consult.id,
                                         request_id(request))
    return ok(consult_out(view), status=201)


@routes.get("/api/v1/teleconsults")
@requires(*CLINICIANS)
async def teleconsults_list(request: web.Request) -> web.Response:
    rows = await call(request, service.inbox, box=request.query.get("box", "inbox"))
    return listing([{**consult_brief(c), "patient": {
        "id": p.id, "given_name": p.given_name, "family_name": p.family_name}}
        for c, p in rows], None)


@routes.get(f"/api/v1/teleconsults/{ID}")
@requires(*CLINICIANS)
async def teleconsults_get(request: web.Request) -> web.Response:
    view = await call(request, service.get_request, request.match_info["teleconsult_id"],
                      request_id(request))
    return ok(consult_out(view))


def _action_handler(action: rules.Action) -> Any:
    @requires(*CLINICIANS)
    async def handler(request: web.Request) -> web.Response:
        data = await body(request, NoteIn) if request.can_read_body else NoteIn()
        view = await call(request, service.act, request.match_info["teleconsult_id"], action,
                          data.text, request_id=request_id(request))
        return ok(consult_out(view))

    handler.__name__ = f"teleconsults_{action}"
    return handler


for _action, _path in (("accept", "accept"), ("decline", "decline"),
                       ("more_info", "more-info"), ("add_info", "add-info"),
                       ("cancel", "cancel")):
    routes.post(f"/api/v1/teleconsults/{ID}/{_path}")(_action_handler(_action))  # type: ignore[arg-type]


@routes.post(f"/api/v1/teleconsults/{ID}/schedule")
@requires(*CLINICIANS)
async def teleconsults_schedule(request: web.Request) -> web.Response:
    data = await body(request, ScheduleIn)
    view, record = await call(request, service.schedule, request.match_info["teleconsult_id"],
                              scheduled_start=data.scheduled_start,
                              duration_minutes=data.duration_minutes,
                              request_id=request_id(request))
    return ok({**consult_out(view), "visit_id": record.visit.id})


@routes.post(f"/api/v1/teleconsults/{ID}/answer")
@requires(*CLINICIANS)
async def teleconsults_answer(request: web.Request) -> web.Response:
    data = await body(request, AnswerIn)
    async with sessions(request)() as session:
        view = await service.answer(session, principal(request),
                                    request.match_info["teleconsult_id"], data.text,
                                    request_id=request_id(request))
        # The answer becomes a co-signed report: drafted now, signed by the specialist,
        # co-signed by the requester (docs/teleconsult.md).
        report = await reports.draft_report(
            session, principal(request), view.consult.id, request_id=request_id(request),
            language=negotiate(request.headers.get("Accept-Language", ""),
                               request.app[keys.SETTINGS].language))
    return ok({**consult_out(view), "document_id": report.id}, status=201)


# Attachments ---------------------------------------------------------------------


async def _read_upload(request: web.Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it passes `limit` bytes."""
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "file_too_large",
                       f"The file is larger than {limit // (1024 * 1024) or 1} MB.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "file_too_large",
                           f"The file is larger than {limit // (1024 * 1024) or 1} MB.")
        chunks.append(chunk)
    return b"".join(chunks)


async def _list(request: web.Request, kind: files.TargetKind, target_id: str) -> web.Response:
    async with sessions(request)() as session:
        target = await files.authorize_target(session, principal(request), kind, target_id,
                                              action="read", request_id=request_id(request))
        rows = await files.list_attachments(session, target)
    return listing([attachment_out(r) for r in rows], None)


async def _add(request: web.Request, kind: files.TargetKind, target_id: str) -> web.Response:
    """A JSON `{study_instance_uid}` attaches a PACS study; any other body is a file
    (`?filename=`, `?reconcile=confirm` for a DICOM of another PatientID)."""
    who = principal(request)
    settings = request.app[keys.SETTINGS]
    client = request.app[IMAGING]
    if request.content_type == "application/json":
        async with sessions(request)() as session:
            target = await files.authorize_target(session, who, kind, target_id,
                                                  action="create",
                                                  request_id=request_id(request))
            ref = validate(StudyRef, parse_body(await request.read()))
            row = await files.add_study(session, who, target, ref.study_instance_uid, client,
                                        request_id=request_id(request))
        return ok(attachment_out(row), status=201)
    filename = request.query.get("filename")
    reconcile = request.query.get("reconcile") == "confirm"
    async with sessions(request)() as session:  # authorize before reading the upload
        target = await files.authorize_target(session, who, kind, target_id, action="create",
                                              request_id=request_id(request))
    data = await _read_upload(request, settings.attachment_max_bytes)
    media = files.check_file(data, request.content_type, filename,
                             settings.attachment_max_bytes)
    async with sessions(request)() as session:
        row = await files.add_file(session, who, target, data, media=media, filename=filename,
                                   client=client, reconcile=reconcile,
                                   request_id=request_id(request))
    return ok(attachment_out(row), status=201)


@routes.get(f"/api/v1/teleconsults/{ID}/attachments")
@requires(*CLINICIANS)
async def teleconsults_attachments(request: web.Request) -> web.Response:
    return await _list(request, "teleconsult", request.match_info["teleconsult_id"])


@routes.post(f"/api/v1/teleconsults/{ID}/attachments")
@requires(*CLINICIANS)
async def teleconsults_attach(request: web.Request) -> web.Response:
    return await _add(request, "teleconsult", request.match_info["teleconsult_id"])


@routes.get("/api/v1/visits/{visit_id}/attachments")
@requires(*ATTACHMENT_ROLES)
async def visits_attachments(request: web.Request) -> web.Response:
    return await _list(request, "visit", request.match_info["visit_id"])


@routes.post("/api/v1/visits/{visit_id}/attachments")
@requires(*CLINICIANS)
async def visits_attach(request: web.Request) -> web.Response:
    return await _add(request, "visit", request.match_info["visit_id"])


@routes.get("/api/v1/attachments/{attachment_id}")
@requires(*ATTACHMENT_ROLES)
async def attachments_get(request: web.Request) -> web.Response:
    """The stored file, shown inline (PDF, JPEG, PNG), with its checked media type."""
    row = await call(request, files.get_file, request.match_info["attachment_id"],
                     request_id(request))
    assert row.data is not None and row.media_type is not None
    name = row.filename or "attachment"
    plain = name.encode("ascii", "replace").decode().replace("?", "_")
    return web.Response(body=row.data, content_type=row.media_type, headers={
        "Content-Disposition": f"inline; filename=\"{plain}\"; filename*=UTF-8''{quote(name)}",
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
        # shown inside the platform's own pages (an iframe for PDFs), nowhere else
        "Content-Security-Policy": "default-src 'none'; img-src 'self'; "
                                   "style-src 'unsafe-inline'; frame-ancestors 'self'",
        "X-Frame-Options": "SAMEORIGIN"})
