"""Clinical documents (CONTRACT §8, docs/documents.md): list, read, draft, edit, sign, replace,
the PDF and FHIR renderings, the patient's index PDF, and verification."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import Field

from telemed import keys
from telemed.api.common import (
    Body,
    body,
    call,
    listing,
    ok,
    query_int,
    request_id,
    sessions,
    text_rule,
)
from telemed.db.models import Document
from telemed.documents import signing
from telemed.documents.setup import SIGNING
from telemed.errors import ApiError
from telemed.i18n import negotiate
from telemed.principal import CLINICIANS, Role, client_of, principal, requires
from telemed.services import documents as service
from telemed.services.users import display_names

routes = web.RouteTableDef()

READERS: tuple[Role, ...] = ("doctor", "nurse", "patient")  # never administrators
DOC = "/api/v1/documents/{document_id}"
MAX_UPLOAD = 20 * 1024 * 1024
Sections = dict[str, Annotated[str, Field(max_length=20_000)]]


class SectionsBody(Body):
    sections: Sections = Field(default_factory=dict, max_length=16)
    title: str | None = Field(default=None, max_length=200)


class VisitReportBody(Body):
    sections: Sections = Field(default_factory=dict, max_length=16)
    # The findings as one text (the body of the visit report API before documents).
    text: Annotated[str, text_rule(20_000, multiline=True)] | None = None


class MonitoringBody(Body):
    kind: Literal["monitoring_report", "monitoring_final_report", "monitoring_plan"]
    careplan_id: str = Field(min_length=1, max_length=64)


class SignBody(Body):
    """The signer's password again, or a code of their second factor (TOTP)."""

    password: str | None = Field(default=None, min_length=1, max_length=1024)
    code: str | None = Field(default=None, pattern=r"^\s*\d{3}\s?\d{3}\s*$")


def _lang(request: web.Request) -> str:
    return negotiate(request.headers.get("Accept-Language", ""),
                     request.app[keys.SETTINGS].language)


async def _out(request: web.Request, docs: list[Document]) -> list[dict[str, Any]]:
    ids = sorted({d.author_id for d in docs} | {d.signed_by for d in docs if d.signed_by})
    async with sessions(request)() as session:
        names = await display_names(session, ids)
    return [service.document_out(d, names) for d in docs]


async def _one(request: web.Request, doc: Document, status: int = 200) -> web.Response:
    """One document in its public shape."""
    return ok((await _out(request, [doc]))[0], status=status)


@routes.get("/api/v1/patients/{patient_id}/documents")
@requires(*READERS)
async def documents_list(request: web.Request) -> web.Response:
    limit = query_int(request.query, "limit", low=1, high=200, default=50) or 50
    docs = await call(request, service.list_documents, request.match_info["patient_id"],
                      limit=limit, request_id=request_id(request))
    return listing(await _out(request, docs), None)


@routes.post("/api/v1/patients/{patient_id}/documents")
@requires(*CLINICIANS)
async def documents_draft(request: web.Request) -> web.Response:
    """Draft a telemonitoring document from a care plan's data."""
    data = await body(request, MonitoringBody)
    doc = await call(request, service.draft_monitoring_report, data.careplan_id, data.kind,
                     language=_lang(request), request_id=request_id(request),
                     patient_id=request.match_info["patient_id"],
                     timezone=request.app[SIGNING].timezone)
    return await _one(request, doc, 201)


@routes.get("/api/v1/patients/{patient_id}/documents/index.pdf")
@requires(*READERS)
async def documents_index(request: web.Request) -> web.Response:
    pdf = await call(request, service.index_pdf, request.match_info["patient_id"],
                     request.app[SIGNING].service_name, _lang(request),
                     request_id=request_id(request), timezone=request.app[SIGNING].timezone)
    return _pdf(pdf, "index.pdf")


@routes.get(DOC)
@requires(*READERS)
async def documents_get(request: web.Request) -> web.Response:
    doc = await call(request, service.get_document, request.match_info["document_id"],
                     request_id=request_id(request))
    return await _one(request, doc)


@routes.patch(DOC)
@requires(*CLINICIANS)
async def documents_edit(request: web.Request) -> web.Response:
    data = await body(request, SectionsBody)
    doc = await call(request, service.update_draft, request.match_info["document_id"],
                     data.sections, data.title, request_id=request_id(request))
    return await _one(request, doc)


@routes.post(DOC + "/sign")
@requires(*CLINICIANS)
async def documents_sign(request: web.Request) -> web.Response:
    data = await body(request, SignBody)
    doc = await call(request, service.sign_document, request.match_info["document_id"],
                     service.Confirmation(password=data.password, code=data.code,
                                          address=client_of(request),
                                          guard=request.app[keys.LOGIN_THROTTLE]),
                     request.app[SIGNING], request_id=request_id(request))
    return await _one(request, doc)


@routes.post(DOC + "/replace")
@requires(*CLINICIANS)
async def documents_replace(request: web.Request) -> web.Response:
    doc = await call(request, service.replace_document, request.match_info["document_id"],
                     request_id=request_id(request))
    return await _one(request, doc, 201)


def _pdf(data: bytes, name: str) -> web.Response:
    return web.Response(body=data, content_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store"})


@routes.get(DOC + "/pdf")
@requires(*READERS)
async def documents_pdf(request: web.Request) -> web.Response:
    async with sessions(request)() as session:
        doc = await service.get_document(session, principal(request),
                                         request.match_info["document_id"], action="export",
                                         request_id=request_id(request))
        signing_with = request.app[SIGNING]
        data = await service.document_pdf(session, doc, signing_with.service_name,
                                          signing_with.timezone)
    return _pdf(data, f"{doc.kind}-{doc.id}.pdf")


@routes.get(DOC + "/fhir")
@requires(*READERS)
async def documents_fhir(request: web.Request) -> web.Response:
    doc = await call(request, service.get_document, request.match_info["document_id"],
                     action="export", request_id=request_id(request))
    if doc.bundle is None:
        raise ApiError(409, "document_not_signed",
                       "Only a sealed document has a FHIR Bundle.")
    return web.Response(text=doc.bundle, content_type="application/fhir+json",
                        headers={"Cache-Control": "no-store"})


@routes.post(DOC + "/verify")
@requires(*READERS)
async def documents_verify(request: web.Request) -> web.Response:
    """Verify the stored document, or (with a body: a PDF or a Bundle) the file sent."""
    signing_with = request.app[SIGNING]
    anchors = signing_with.seal.anchors if signing_with.seal else ()
    result = await call(request, service.verify_stored, request.match_info["document_id"],
                        signing_with.seal, request_id=request_id(request))
    if request.can_read_body:
        data = await request.read()
        if len(data) > MAX_UPLOAD:
            raise ApiError(413, "too_large", "The file is too large.")
        verdict = await asyncio.to_thread(signing.verify_any, data, anchors)
        result = {"id": result["id"], "ok": verdict.ok, "file": verdict.to_dict()}
    return ok(result)


@routes.post("/api/v1/visits/{visit_id}/report")
@requires(*CLINICIANS)
async def visit_report_draft(request: web.Request) -> web.Response:
    """Start the televisit report (a draft ``televisit_report`` document)."""
    data = await body(request, VisitReportBody)
    sections = dict(data.sections)
    if data.text is not None:
        sections.setdefault("findings", data.text)
    doc = await call(request, service.draft_visit_report, request.match_info["visit_id"], sections,
                     language=_lang(request), request_id=request_id(request))
    return await _one(request, doc, 201)


@routes.get("/api/v1/visits/{visit_id}/report")
@requires(*READERS)
async def visit_report_get(request: web.Request) -> web.Response:
    doc = await call(request, service.document_for_visit, request.match_info["visit_id"],
                     request_id(request))
    if doc is None:
        raise ApiError(404, "not_found", "This visit has no report yet.")
    return await _one(request, doc)
