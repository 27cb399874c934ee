"""The co-signed teleconsult report (CONTRACT §8 and §9, docs/teleconsult.md): when the
specialist answers a teleconsult (in writing, or at the end of a live one), the platform
drafts a `teleconsult_report` document from the request (question, urgency, mode, the
attachments and studies it cites) and the answer. The specialist is its author and signs it
first; the requesting clinician co-signs it, and only then is it sealed and published
(`telemed.services.documents`). The request links the document (`link_document`).
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import Document, Patient
from telemed.documents.report_words import teleconsult_report_text
from telemed.domain import documents as rules
from telemed.domain.audit_reasons import because
from telemed.errors import ApiError, conflict, forbidden, not_found
from telemed.principal import Principal
from telemed.services import audit
from telemed.services import documents as documents_service
from telemed.services.attachments import Target, list_attachments
from telemed.services.teleconsults import link_document, report_source

KIND = "teleconsult_report"


async def draft_report(session: AsyncSession, who: Principal, consult_id: str, *,
                       language: str = "it", request_id: str | None = None) -> Document:
    """The report of an answered teleconsult, drafted by the platform for the specialist who
    answered it (once: a second call returns the same document)."""
    source = await report_source(session, consult_id)
    if source is None:
        raise conflict("The report is drafted once the teleconsult is answered.",
                       "teleconsult_not_answered")
    consult, answer = source
    if answer.author_id != who.user_id:
        raise forbidden("Only the specialist who answered drafts the report.")
    if consult.document_id is not None:
        existing = await session.get(Document, consult.document_id)
        if existing is not None:
            return existing
    patient = await session.get(Patient, consult.patient_id)
    if patient is None:
        raise not_found("Patient")
    target = (Target("visit", consult.visit_id, patient) if consult.visit_id
              else Target("teleconsult", consult.id, patient))
    cited = [(f"{a.filename} ({a.study_uid})" if a.filename else a.study_uid or "")
             if a.kind == "study" else a.filename or a.id
             for a in await list_attachments(session, target)]
    lang = await documents_service.patient_language(session, consult.patient_id, language)
    spec = rules.kind_of(KIND)
    doc = Document(patient_id=consult.patient_id, kind=KIND, title=spec.title(lang),
                   author_id=answer.author_id, cosigner_id=consult.requester_id,
                   teleconsult_id=consult.id, visit_id=consult.visit_id, language=lang,
                   sections=teleconsult_report_text(rules.teleconsult_draft(
                       question=consult.question, urgency=consult.urgency, mode=consult.mode,
                       cited=cited, answer=answer.text), lang))
    session.add(doc)
    await session.flush()
    await link_document(session, consult.id, doc.id)
    audit.record(session, actor=who, action="create", resource="document",
                 patient_id=consult.patient_id, resource_id=doc.id,
                 reason=because("teleconsult_report"), request_id=request_id)
    await session.commit()
    await session.refresh(doc)
    return doc


async def report_of(session: AsyncSession, who: Principal, document_id: str | None, *,
                    request_id: str | None = None) -> Document | None:
    """A teleconsult's report as the caller may see it (None: none yet, or not theirs)."""
    if document_id is None:
        return None
    try:
        return await documents_service.get_document(session, who, document_id,
                                                    request_id=request_id)
    except ApiError as exc:  # refused or gone: the page goes on without it
        if exc.status in (403, 404):
            return None
        raise
