"""Document pages: read a document, edit and sign a draft (the clinician), start a
replacement or a monitoring report, and the Documents panel of a patient's pages
(`documents_panel.html`, included by My record and by the clinician's patient page)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed import keys
from telemed.db.models import Document
from telemed.documents.setup import SIGNING
from telemed.domain import documents as rules
from telemed.domain.questionnaires import CATALOGUE
from telemed.errors import ApiError
from telemed.principal import (
    CLINICIANS,
    REQUEST_ID,
    Principal,
    Role,
    client_of,
    ensure_csrf_token,
    principal,
    requires,
)
from telemed.services import documents as service
from telemed.services.users import display_names
from telemed.views.alert_text import QUESTIONNAIRE_BANDS
from telemed.views.forms import FormErrors, read_form
from telemed.views.render import LANGUAGE, N_, flash, language_of, render, see_other, t, t_error
from telemed.views.render import local_or as local_path_or

routes = web.RouteTableDef()

READERS: tuple[Role, ...] = ("doctor", "nurse", "patient")
DOC = "/documents/{document_id}"
STATUS_LABELS = {"draft": N_("Draft"), "partially_signed": N_("Awaiting co-signature"),
                 "signed": N_("Signed"), "replaced": N_("Replaced")}
TREND_LABELS = {"single": N_("one response only"), "better": N_("improving"),
                "stable": N_("stable"), "worse": N_("worsening")}
NO_SYMPTOMS = N_("no symptoms")  # the hypoglycaemia diary's "none"
MONITORING_CHOICES = (("monitoring_report", N_("Telemonitoring report")),
                      ("monitoring_final_report", N_("Telemonitoring final report")))


def _row(request: web.Request, doc: Document, names: dict[str, str]) -> dict[str, Any]:
    spec = rules.kind_of(doc.kind)
    return {"id": doc.id, "title": doc.title, "kind": spec.title(_page_lang(request)),
            "status": doc.status, "status_label": t(request, STATUS_LABELS[doc.status]),
            "date": doc.signed_at or doc.created_at,
            "author": names.get(doc.signed_by or doc.author_id, ""),
            "legacy": doc.legacy_hash is not None}


def _page_lang(request: web.Request) -> str:
    lang = request.get(LANGUAGE) or request.app[keys.SETTINGS].language
    return str(lang) if lang in ("it", "en") else "it"


async def documents_panel(request: web.Request, patient_id: str,
                          plans: list[Any] | None = None) -> dict[str, Any]:
    """Context for `documents_panel.html`: the patient's documents, newest first."""
    who = principal(request)
    async with request.app[keys.SESSIONS]() as session:
        docs = await service.list_documents(session, who, patient_id, limit=50,
                                            request_id=request[REQUEST_ID])
        names = await display_names(session, sorted({d.signed_by or d.author_id for d in docs}))
    return {"documents_panel": {
        "patient_id": patient_id,
        "items": [_row(request, d, names) for d in docs],
        "can_draft": who.is_clinician,
        "plans": [{"id": p.plan_id, "title": p.title} for p in (plans or [])
                  if p.status in ("active", "completed")],
        "kinds": [(key, t(request, label)) for key, label in MONITORING_CHOICES],
    }}


def score_rows(request: web.Request,
               figures: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The questionnaire scores of a monitoring report's figures, in the page's words."""
    rows = []
    for s in (figures or {}).get("questionnaires", []):
        code, last = str(s["code"]), s["last"]
        q = CATALOGUE.get(code)
        band = str(last["band"])
        word = (NO_SYMPTOMS if code == "hypo_diary" and band == "none"
                else QUESTIONNAIRE_BANDS.get(band, band))
        rows.append({"code": code, "title": t(request, q.title) if q else code,
                     "count": s["count"], "at": datetime.fromisoformat(str(last["at"])),
                     "score": last["score"], "max_score": s["max_score"],
                     "band": t(request, word) if band else "",
                     "trend": t(request, TREND_LABELS.get(str(s["trend"]), str(s["trend"]))),
                     "flagged": s["flagged"]})
    return rows


async def signing_context(session: AsyncSession, who: Principal, doc: Document
                          ) -> dict[str, Any] | None:
    """What the signing form (`_document_sign.html`) needs, when the caller may sign now:
    the author a draft, the named co-signer a document its author signed."""
    first = doc.status == "draft" and doc.author_id == who.user_id
    cosign = doc.status == "partially_signed" and doc.cosigner_id == who.user_id
    if not (first or cosign):
        return None
    return {"doc_id": doc.id, "cosign": cosign,
            "two_signers": rules.kind_of(doc.kind).signers > 1,
            "totp": await service.signs_with_code(session, who.user_id)}


def kind_shown(title: str, kind: str) -> str | None:
    """The kind under the heading, unless it only repeats the title."""
    return None if kind.strip().casefold() == title.strip().casefold() else kind


async def _page(request: web.Request, doc: Document, errors: FormErrors | None = None,
                status: int = 200, verdict: dict[str, Any] | None = None) -> web.Response:
    await ensure_csrf_token(request)
    who: Principal = principal(request)
    async with request.app[keys.SESSIONS]() as session:
        names = await display_names(session, sorted(
            {doc.author_id, doc.signed_by or "", doc.cosigner_id or ""} - {""}))
        signing = await signing_context(session, who, doc)
    spec = rules.kind_of(doc.kind)
    lang = _page_lang(request)
    sections = [{"key": s.key, "title": s.title(lang), "required": s.required,
                 "text": doc.sections.get(s.key, ""),
                 "paragraphs": rules.paragraphs(doc.sections.get(s.key, ""))}
                for s in spec.sections]
    editable = doc.status == "draft" and doc.author_id == who.user_id
    return await render(request, "document.html", {
        "doc": doc, "kind": kind_shown(doc.title, spec.title(lang)), "sections": sections,
        "editable": editable,
        "status_label": t(request, STATUS_LABELS[doc.status]),
        "author": names.get(doc.author_id, ""), "signer": names.get(doc.signed_by or "", ""),
        "cosigner": names.get(doc.cosigner_id or "", ""), "signing": signing,
        "can_replace": who.is_clinician and doc.status == "signed",
        "errors": errors or FormErrors(),
        "summary": (errors or FormErrors()).summary(lambda key: key),
        "verdict": verdict, "legacy_note": service.LEGACY_NOTE,
        "scores": score_rows(request, doc.figures),
    }, status=status)


@routes.get(DOC, name="document")
@requires(*READERS)
async def document_page(request: web.Request) -> web.Response:
    await language_of(request)
    async with request.app[keys.SESSIONS]() as session:
        doc = await service.get_document(session, principal(request),
                                         request.match_info["document_id"],
                                         request_id=request[REQUEST_ID])
    return await _page(request, doc)


async def _form_error(request: web.Request, exc: ApiError, field: str | None) -> web.Response:
    if exc.status not in (403, 409, 422, 429, 503):
        raise exc
    async with request.app[keys.SESSIONS]() as session:
        doc = await service.get_document(session, principal(request),
                                         request.match_info["document_id"],
                                         request_id=request[REQUEST_ID])
    errors = FormErrors()
    for key, message in exc.fields.items():
        errors.add(key.removeprefix("sections."), t_error(request, message))
    if not exc.fields:
        errors.add(field, t_error(request, exc.message))
    return await _page(request, doc, errors, status=exc.status)


@routes.post(DOC)
@requires(*CLINICIANS)
async def document_save(request: web.Request) -> web.Response:
    await language_of(request)
    form = await read_form(request)
    doc_id = request.match_info["document_id"]
    sections = {k.removeprefix("section_"): v for k, v in form.items()
                if k.startswith("section_")}
    try:
        async with request.app[keys.SESSIONS]() as session:
            await service.update_draft(session, principal(request), doc_id, sections,
                                       request_id=request[REQUEST_ID])
    except ApiError as exc:
        return await _form_error(request, exc, None)
    await flash(request, "Draft saved.")
    raise see_other(f"/documents/{doc_id}")


@routes.post(DOC + "/sign")
@requires(*CLINICIANS)
async def document_sign(request: web.Request) -> web.Response:
    await language_of(request)
    form = await read_form(request)
    doc_id = request.match_info["document_id"]
    code = form.get("code", "").strip()
    proof = service.Confirmation(password=None if code else form.get("password", ""),
                                 code=code or None, address=client_of(request),
                                 guard=request.app[keys.LOGIN_THROTTLE])
    try:
        async with request.app[keys.SESSIONS]() as session:
            doc = await service.sign_document(session, principal(request), doc_id, proof,
                                              request.app[SIGNING],
                                              request_id=request[REQUEST_ID])
    except ApiError as exc:
        return await _form_error(request, exc, "code" if code else "password")
    if doc.status == "partially_signed":
        await flash(request, "Signed: the co-signer signs next.")
    else:
        await flash(request, "Document signed.")
    raise see_other(local_path_or(form.get("next"), f"/documents/{doc_id}"))


@routes.post(DOC + "/replace")
@requires(*CLINICIANS)
async def document_replace(request: web.Request) -> web.Response:
    await language_of(request)
    try:
        async with request.app[keys.SESSIONS]() as session:
            doc = await service.replace_document(session, principal(request),
                                                 request.match_info["document_id"],
                                                 request_id=request[REQUEST_ID])
    except ApiError as exc:
        return await _form_error(request, exc, None)
    raise see_other(f"/documents/{doc.id}")


@routes.post(DOC + "/verify")
@requires(*READERS)
async def document_verify(request: web.Request) -> web.Response:
    await language_of(request)
    async with request.app[keys.SESSIONS]() as session:
        doc = await service.get_document(session, principal(request),
                                         request.match_info["document_id"],
                                         request_id=request[REQUEST_ID])
        try:
            verdict = await service.verify_stored(session, principal(request), doc.id,
                                                  request.app[SIGNING].seal,
                                                  request_id=request[REQUEST_ID])
        except ApiError as exc:
            return await _form_error(request, exc, None)
    return await _page(request, doc, verdict=verdict)


@routes.post("/patients/{patient_id}/documents")
@requires(*CLINICIANS)
async def monitoring_draft(request: web.Request) -> web.Response:
    """Draft a telemonitoring report from a care plan's data (the patient's page form)."""
    await language_of(request)
    form = await read_form(request)
    patient_id = request.match_info["patient_id"]
    kind = form.get("kind", "")
    if kind not in dict(MONITORING_CHOICES):
        raise ApiError(422, "unknown_document_kind", "Choose the kind of report.")
    async with request.app[keys.SESSIONS]() as session:
        doc = await service.draft_monitoring_report(
            session, principal(request), form.get("careplan_id", ""), kind,
            language=_page_lang(request), patient_id=patient_id,
            request_id=request[REQUEST_ID], timezone=request.app[SIGNING].timezone)
    raise see_other(f"/documents/{doc.id}")
