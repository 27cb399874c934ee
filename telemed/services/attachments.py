"""Attachments of a teleconsult request or a visit (CONTRACT §9, docs/teleconsult.md).

A file is what its bytes say (`telemed.domain.attachments.sniff`), never what its name or
Content-Type claim: a "PDF" that is not one is refused (415). PDF, JPEG and PNG are stored
here; a DICOM file goes to the PACS by STOW-RS, and only if its PatientID is the patient's
fiscal code. Another patient's ID is refused (409 `patient_id_mismatch`) unless the
clinician confirms a reconciliation: then the file's PatientID is set to the patient's
fiscal code before it is stored (the former ID kept in OtherPatientIDs and on the
attachment row), and the reconciliation is audited. A study already in the PACS is
attached by its StudyInstanceUID when it is this patient's.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from dataclasses import dataclass
from typing import Literal

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import Patient
from telemed.db.teleconsults import Attachment, Teleconsult
from telemed.domain import attachments as rules
from telemed.domain.audit_reasons import Reason, because
from telemed.domain.teleconsults import OPEN
from telemed.errors import ApiError, conflict, forbidden, not_found
from telemed.imaging import dicomweb as dw
from telemed.principal import Principal
from telemed.services import audit
from telemed.services import teleconsults as consults
from telemed.services.imaging import check_uid, client_or_503, pacs_unavailable
from telemed.services.visits import authorize_visit, load_visit

TargetKind = Literal["teleconsult", "visit"]
RECONCILIATION = because("dicom_reconciliation")


@dataclass(frozen=True)
class Target:
    """What an attachment hangs on, once the caller is authorized."""

    kind: TargetKind
    id: str
    patient: Patient


@dataclass(frozen=True)
class DicomFacts:
    patient_id: str | None
    study_uid: str | None


async def authorize_target(session: AsyncSession, who: Principal, kind: TargetKind,
                           target_id: str, *, action: Literal["read", "create"],
                           request_id: str | None = None) -> Target:
    """The request or visit when the caller may read (or add to) its attachments."""
    if kind == "teleconsult":
        consult = await consults.load(session, target_id)
        role = await consults.authorize_consult(session, who, consult, action=action,
                                                request_id=request_id)
        if action == "create" and role not in ("requester", "specialist"):
            await session.commit()
            raise forbidden("Attachments are added by the requester or the specialist.")
        if action == "create" and consult.status not in OPEN:
            await session.commit()
            raise conflict("Attachments are added to an open teleconsult.",
                           "teleconsult_state")
        patient_id = consult.patient_id
    else:
        record = await load_visit(session, target_id)
        await authorize_visit(session, who, record, action=action, resource="attachment",
                              request_id=request_id)
        patient_id = record.visit.patient_id
    await session.commit()
    patient = await session.get(Patient, patient_id)
    assert patient is not None
    return Target(kind, target_id, patient)


def _new(target: Target, who: Principal, kind: str) -> Attachment:
    """An attachment row of `target` (its request or its visit)."""
    return Attachment(patient_id=target.patient.id, kind=kind, created_by=who.user_id,
                      teleconsult_id=target.id if target.kind == "teleconsult" else None,
                      visit_id=target.id if target.kind == "visit" else None)


async def list_attachments(session: AsyncSession, target: Target) -> list[Attachment]:
    """A request's attachments; a visit's, with those of the request it was scheduled for."""
    if target.kind == "teleconsult":
        where = col(Attachment.teleconsult_id) == target.id
    else:
        of_request = select(Teleconsult.id).where(Teleconsult.visit_id == target.id)
        where = (col(Attachment.visit_id) == target.id) \
            | col(Attachment.teleconsult_id).in_(of_request)
    return list((await session.exec(
        select(Attachment).where(where)
        .order_by(col(Attachment.created_at), col(Attachment.id)))).all())


def _read_dicom(data: bytes) -> DicomFacts:
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    try:
        ds = dcmread(io.BytesIO(data), stop_before_pixels=True)
    except (InvalidDicomError, ValueError, EOFError, OSError, KeyError, TypeError):
        raise ApiError(415, "invalid_dicom", "The file is not a readable DICOM file.") from None
    patient_id = ds.get("PatientID")
    study_uid = ds.get("StudyInstanceUID")
    return DicomFacts(str(patient_id) if patient_id else None,
                      str(study_uid) if study_uid else None)


def _reconcile(data: bytes, fiscal_code: str) -> bytes:
    from pydicom import dcmread

    ds = dcmread(io.BytesIO(data))
    former = str(ds.get("PatientID") or "")
    ds.PatientID = fiscal_code
    if former:
        ds.OtherPatientIDs = former
    out = io.BytesIO()
    ds.save_as(out)
    return out.getvalue()


def check_file(data: bytes, declared: str | None, filename: str | None,
               max_bytes: int) -> rules.MediaType:
    """The real media type of an upload; 413 too large, 415 not accepted or mismatched."""
    if not data:
        raise ApiError(422, "empty_file", "The file is empty.")
    if len(data) > max_bytes:
        raise ApiError(413, "file_too_large",
                       f"The file is larger than {max_bytes // (1024 * 1024) or 1} MB.")
    media = rules.sniff(data[:132])
    if media is None:
        raise ApiError(415, "unsupported_file",
                       "Only PDF, JPEG, PNG and DICOM files can be attached.")
    claimed = {declared} if declared and declared != "application/octet-stream" else set()
    lowered = (filename or "").lower()
    for media_type, extension in rules.EXTENSIONS.items():
        if lowered.endswith(extension) or (media_type == "image/jpeg"
                                           and lowered.endswith(".jpeg")):
            claimed.add(media_type)
    if claimed - {media}:
        raise ApiError(415, "content_mismatch",
                       "The file is not what its name or type says it is.")
    if not rules.complete(media, data):
        raise ApiError(415, "truncated_file", "The file is damaged or incomplete.")
    return media


async def add_file(
    session: AsyncSession, who: Principal, target: Target, data: bytes, *,
    media: rules.MediaType, filename: str | None, client: dw.DicomWebClient | None,
    reconcile: bool = False, request_id: str | None = None,
) -> Attachment:
    """Store a checked file: PDF/JPEG/PNG here, DICOM in the PACS (PatientID checked)."""
    name = rules.clean_filename(filename, media)
    row = _new(target, who, "file")
    row.media_type, row.filename, row.size = media, name, len(data)
    row.sha256 = hashlib.sha256(data).hexdigest()
    reason: Reason | None = None
    if media == "application/dicom":
        facts = await asyncio.to_thread(_read_dicom, data)
        if facts.study_uid is None or not rules.same_patient_id(facts.patient_id,
                                                                target.patient.fiscal_code):
            if facts.study_uid is None:
                raise ApiError(415, "invalid_dicom", "The DICOM file has no study UID.")
            if not reconcile:
                raise ApiError(409, "patient_id_mismatch",
                               "The file's PatientID is not this patient's fiscal code. "
                               "Check the images; confirm the reconciliation to attach them "
                               "to this patient.")
            data = await asyncio.to_thread(_reconcile, data, target.patient.fiscal_code)
            row.reconciled_from = (facts.patient_id or "")[:64] or "(none)"
            reason = RECONCILIATION
        pacs = client_or_503(client)
        try:
            await pacs.store(data)
        except dw.PacsUnavailable:
            raise pacs_unavailable() from None
        except dw.PacsError:
            raise ApiError(422, "pacs_refused", "The image archive refused the file.") from None
        row.kind, row.study_uid = "study", facts.study_uid
    else:
        row.data = data
    session.add(row)
    await session.flush()
    audit.record(session, actor=who, action="create", resource="attachment",
                 patient_id=target.patient.id, resource_id=row.id, reason=reason,
                 request_id=request_id)
    await session.commit()
    return row


async def add_study(
    session: AsyncSession, who: Principal, target: Target, study_uid: str,
    client: dw.DicomWebClient | None, *, request_id: str | None = None,
) -> Attachment:
    """Attach a study found in the PACS; it must be this patient's (PatientID)."""
    check_uid(study_uid)
    pacs = client_or_503(client)
    try:
        study = await pacs.find_study(study_uid)
    except dw.PacsUnavailable:
        raise pacs_unavailable() from None
    if study is None:
        raise not_found("Study")
    if not rules.same_patient_id(dw.value(study, dw.TAG_PATIENT_ID),
                                 target.patient.fiscal_code):
        raise await audit.refused(session, forbidden("That study is not this patient's."),
                                  actor=who, action="create", resource="study",
                                  patient_id=target.patient.id, resource_id=study_uid,
                                  request_id=request_id)
    existing = (await session.exec(select(Attachment).where(
        Attachment.study_uid == study_uid).where(
        (Attachment.teleconsult_id == target.id) if target.kind == "teleconsult"
        else (Attachment.visit_id == target.id)))).first()
    if existing is not None:
        return existing
    row = _new(target, who, "study")
    row.study_uid, row.media_type = study_uid, "application/dicom"
    described = " ".join(str(part) for part in (
        dw.value(study, dw.TAG_STUDY_DESCRIPTION), *dw.values(study, dw.TAG_MODALITIES)) if part)
    row.filename = described[:200] or None
    session.add(row)
    await session.flush()
    audit.record(session, actor=who, action="create", resource="attachment",
                 patient_id=target.patient.id, resource_id=row.id, request_id=request_id)
    await session.commit()
    return row


async def get_file(session: AsyncSession, who: Principal, attachment_id: str,
                   request_id: str | None = None) -> Attachment:
    """A stored file the caller may read through its request or visit (audited)."""
    row = await session.get(Attachment, attachment_id) if len(attachment_id) <= 32 else None
    if row is None:
        raise not_found("Attachment")
    kind: TargetKind = "teleconsult" if row.teleconsult_id else "visit"
    await authorize_target(session, who, kind, row.teleconsult_id or row.visit_id or "",
                           action="read", request_id=request_id)
    audit.record(session, actor=who, action="read", resource="attachment",
                 patient_id=row.patient_id, resource_id=row.id, request_id=request_id)
    await session.commit()
    if row.data is None:
        raise not_found("File")  # a study: open it in the viewer
    return row
