"""Diagnostic images through the platform (CONTRACT §9): the browser never talks to the PACS.

A study belongs to the patient whose fiscal code is its PatientID. Reading it needs access
to that patient (`authorize_patient`, resource "study": care team with consent, the
consulted specialist during the consult, emergency access), or an invitation to a visit the
study is attached to ("visit participant"). A study of a patient one may not see answers
403 and the refusal is audited. The first read of a study by a credential is audited, and
the first frame of each series it opens ("series", once per `StudyAccessCache.series_window`);
the frames that follow are not audited one by one.

A PACS that is down answers 503 `pacs_unavailable`: the viewer says images are unavailable
and the teleconsult goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import Patient, Visit, VisitParticipant
from telemed.db.teleconsults import Attachment, Teleconsult
from telemed.domain.attachments import same_patient_id
from telemed.domain.audit_reasons import because
from telemed.domain.imaging import valid_uid
from telemed.errors import ApiError, forbidden, not_found
from telemed.imaging import dicomweb as dw
from telemed.imaging.cache import StudyAccessCache
from telemed.principal import Principal
from telemed.services import audit
from telemed.services.access import authorize_patient
from telemed.services.audit import Resource
from telemed.services.visits import invitation_horizon

# Header fields shown in the viewer's summary (never the whole header: it may carry notes).
SUMMARY_TAGS: dict[str, str] = {
    "00100010": "patient_name", "00100020": "patient_id", "00100030": "birth_date",
    "00080020": "study_date", "00081030": "study_description", "00080060": "modality",
    "0008103E": "series_description", "00200011": "series_number",
    "00200013": "instance_number", "00080070": "manufacturer", "00180050": "slice_thickness",
    "00201041": "slice_location", "00280010": "rows", "00280011": "columns",
    "00280030": "pixel_spacing", "00281050": "window_center", "00281051": "window_width",
    "00180060": "kvp", "00080080": "institution",
}


def pacs_unavailable() -> ApiError:
    return ApiError(503, "pacs_unavailable", "The image archive cannot be reached: images "
                    "are unavailable for now.")


def client_or_503(client: dw.DicomWebClient | None) -> dw.DicomWebClient:
    if client is None:
        raise ApiError(503, "pacs_unavailable", "No image archive is configured: images are "
                       "unavailable.")
    return client


def check_uid(uid: str, name: str = "study") -> str:
    if not valid_uid(uid):
        raise ApiError(400, f"invalid_{name}_uid", f"The {name} UID is not a DICOM UID.")
    return uid


@dataclass(frozen=True)
class StudySummary:
    study_uid: str
    date: str | None
    description: str | None
    modalities: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"study_instance_uid": self.study_uid, "date": self.date,
                "description": self.description, "modalities": self.modalities}


def summarize(item: dict[str, Any]) -> StudySummary:
    return StudySummary(str(dw.value(item, dw.TAG_STUDY_UID)),
                        dw.value(item, dw.TAG_STUDY_DATE),
                        dw.value(item, dw.TAG_STUDY_DESCRIPTION),
                        [str(m) for m in dw.values(item, dw.TAG_MODALITIES)])


async def _pacs(call: Any) -> Any:
    try:
        return await call
    except dw.PacsNotFound:
        raise not_found("Study") from None
    except dw.PacsUnavailable:
        raise pacs_unavailable() from None


async def patient_studies(session: AsyncSession, who: Principal, patient_id: str,
                          client: dw.DicomWebClient | None, *, request_id: str | None = None
                          ) -> list[StudySummary]:
    """The patient's studies in the PACS, found by fiscal code as PatientID."""
    patient = await authorize_patient(session, who, patient_id, action="read",
                                      resource="study", request_id=request_id)
    await session.commit()
    found = await _pacs(client_or_503(client).search_studies(patient.fiscal_code))
    # Only exact matches: a PACS may match PatientID loosely (wildcards, case).
    return [summarize(item) for item in found
            if same_patient_id(dw.value(item, dw.TAG_PATIENT_ID), patient.fiscal_code)]


async def study_patient(session: AsyncSession, client: dw.DicomWebClient | None,
                        study_uid: str, cache: StudyAccessCache) -> Patient:
    """The patient a study belongs to: known from its attachments (each checked against the
    PACS's PatientID when attached), else its PatientID in the PACS (the fiscal code);
    404 when neither names one of our patients, 503 when only the PACS could say."""
    patient_id = cache.patient_of(study_uid) or (await session.exec(
        select(Attachment.patient_id).where(Attachment.study_uid == study_uid).limit(1)
    )).first()
    if patient_id is not None:
        patient = await session.get(Patient, patient_id)
        if patient is not None:
            cache.remember_patient(study_uid, patient.id)
            return patient
    study = await _pacs(client_or_503(client).find_study(study_uid))
    fiscal_code = dw.value(study, dw.TAG_PATIENT_ID) if study else None
    patient = (await session.exec(select(Patient).where(
        Patient.fiscal_code == str(fiscal_code).strip().upper()))).first() \
        if fiscal_code else None
    if patient is None:
        raise not_found("Study")
    cache.remember_patient(study_uid, patient.id)
    return patient


async def _invited_to_visit_with(session: AsyncSession, who: Principal, study_uid: str
                                 ) -> str | None:
    """A visit the caller is invited to (invitation still open) that has the study attached."""
    mine = (select(VisitParticipant.visit_id).join(
        Visit, col(Visit.id) == col(VisitParticipant.visit_id))
        .where(VisitParticipant.user_id == who.user_id)
        .where(col(Visit.scheduled_start) >= invitation_horizon()))
    requests = select(Teleconsult.id).where(col(Teleconsult.visit_id).in_(mine))
    return (await session.exec(
        select(Attachment.id).where(Attachment.study_uid == study_uid)
        .where(col(Attachment.visit_id).in_(mine) | col(Attachment.teleconsult_id).in_(requests))
        .limit(1))).first()


def credential_of(who: Principal) -> str:
    return f"{who.user_id}:{who.session_id or ''}"


async def authorize_study(session: AsyncSession, who: Principal, study_uid: str,
                          client: dw.DicomWebClient | None, cache: StudyAccessCache, *,
                          frames: bool = False, instance: tuple[str, str] | None = None,
                          request_id: str | None = None) -> Patient:
    """The study's patient when the caller may see it (audited); 403 audited otherwise.
    With `frames` (a frame or header of `instance`, its series and SOP UIDs), a recent
    authorized read of the same study by the same credential is enough, and the series is
    audited once per credential and `cache.series_window` (resource "series": opened),
    once the instance is known to be in the study; a re-check of access after the study's
    grant ran out, for a series already audited in the window, writes no line (a refusal
    still does)."""
    check_uid(study_uid)
    if instance is not None:  # bad input is refused before anything asks the PACS
        check_uid(instance[0], "series")
        check_uid(instance[1], "instance")
    if not who.is_clinician and who.role != "patient":
        raise forbidden("Administrators do not see clinical images.")
    patient = await study_patient(session, client, study_uid, cache)
    credential = credential_of(who)
    series_uid = check_uid(instance[0], "series") if frames and instance else None
    seen = series_uid is not None and cache.series_audited(credential, series_uid)
    if frames and (seen or series_uid is None) and cache.allowed(credential, study_uid):
        return patient
    if series_uid is not None and not seen:
        # Claimed before the first await: the viewer asks for several frames of a series at
        # once (thumbnail, slice, neighbours), and only one of them writes the series' line.
        cache.audit_series(credential, series_uid)
        try:
            return await _check_study(session, who, study_uid, client, cache, patient,
                                      credential, opened=instance, request_id=request_id)
        except BaseException:
            cache.unaudit_series(credential, series_uid)
            raise
    return await _check_study(session, who, study_uid, client, cache, patient, credential,
                              recheck=seen, request_id=request_id)


async def _check_study(session: AsyncSession, who: Principal, study_uid: str,
                       client: dw.DicomWebClient | None, cache: StudyAccessCache,
                       patient: Patient, credential: str, *,
                       opened: tuple[str, str] | None = None, recheck: bool = False,
                       request_id: str | None = None) -> Patient:
    """`authorize_study`'s check: audited for the study, or for the series `opened` (once
    its instance is known to be in the study); a `recheck` writes no line when allowed."""
    resource: Resource = "series" if opened else "study"
    resource_id = opened[0] if opened else study_uid
    visit_id = await _invited_to_visit_with(session, who, study_uid) if who.is_clinician \
        else None
    if visit_id is not None:
        audit.record(session, actor=who, action="read", resource=resource,
                     patient_id=patient.id, resource_id=resource_id,
                     reason=because("visit_participant"), request_id=request_id)
    else:
        await authorize_patient(session, who, patient.id, action="read", resource=resource,
                                resource_id=resource_id, request_id=request_id)
    if opened:  # no line for a series that is not in the study
        await check_member(client_or_503(client), cache, study_uid, *opened)
    if recheck:
        await session.rollback()  # allowed again: this window's line of the series stands
    else:
        await session.commit()
    cache.grant(credential, study_uid)
    return patient


async def check_member(client: dw.DicomWebClient, cache: StudyAccessCache, study_uid: str,
                       series_uid: str, sop_uid: str) -> None:
    """404 unless the instance is in that series of that study (asked of the PACS once):
    an authorized study never opens another study's images, whatever the PACS checks."""
    check_uid(series_uid, "series")
    check_uid(sop_uid, "instance")
    if cache.has_member(study_uid, series_uid, sop_uid):
        return
    found = await _pacs(client.search_instances(study_uid, series_uid))
    cache.remember_members(study_uid, {(series_uid, str(dw.value(i, dw.TAG_SOP_UID)))
                                       for i in found})
    if not cache.has_member(study_uid, series_uid, sop_uid):
        raise not_found("Image")


async def study_series(client: dw.DicomWebClient, study_uid: str,
                       cache: StudyAccessCache | None = None) -> list[dict[str, Any]]:
    """The study's series, each with its ordered instances (the viewer's slices)."""
    series = await _pacs(client.search_series(study_uid))
    out = []
    for item in series:
        series_uid = str(dw.value(item, dw.TAG_SERIES_UID))
        instances = await _pacs(client.search_instances(study_uid, series_uid))
        ordered = sorted(instances, key=lambda i: (int(dw.value(i, dw.TAG_INSTANCE_NUMBER)
                                                       or 0), str(dw.value(i, dw.TAG_SOP_UID))))
        out.append({
            "series_instance_uid": series_uid,
            "number": dw.value(item, dw.TAG_SERIES_NUMBER),
            "modality": dw.value(item, dw.TAG_MODALITY),
            "description": dw.value(item, dw.TAG_SERIES_DESCRIPTION),
            "instances": [{"sop_instance_uid": str(dw.value(i, dw.TAG_SOP_UID)),
                           "number": dw.value(i, dw.TAG_INSTANCE_NUMBER),
                           "frames": int(dw.value(i, dw.TAG_FRAMES) or 1)}
                          for i in ordered],
        })
    out.sort(key=lambda s: (int(s["number"] or 0), s["series_instance_uid"]))
    if cache is not None:
        cache.remember_members(study_uid, {(s["series_instance_uid"], i["sop_instance_uid"])
                                           for s in out for i in s["instances"]})
    return out


async def header_summary(client: dw.DicomWebClient, study_uid: str, series_uid: str,
                         sop_uid: str) -> dict[str, Any]:
    meta = await _pacs(client.metadata(study_uid, check_uid(series_uid, "series"),
                                       check_uid(sop_uid, "instance")))
    summary: dict[str, Any] = {}
    for tag, name in SUMMARY_TAGS.items():
        found = dw.values(meta, tag)
        if found:
            first = found[0]
            if isinstance(first, dict):
                first = first.get("Alphabetic")
            summary[name] = first if len(found) == 1 or isinstance(found[0], dict) \
                else found
    return summary


async def rendered(client: dw.DicomWebClient, study_uid: str, series_uid: str, sop_uid: str,
                   frame: int, window: tuple[float, float] | None) -> dw.Rendered:
    image: dw.Rendered = await _pacs(client.rendered_frame(
        study_uid, check_uid(series_uid, "series"), check_uid(sop_uid, "instance"), frame,
        window=window))
    return image
