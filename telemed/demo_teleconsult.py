"""The demo region's teleconsult (docs/teleconsult.md): the cardiologist's specialty, a CT
study of Anna Bruno (whose care team is the family doctor alone, so the consult's access
grant shows on her access log) in the demo PACS (pydicom's CT slice made into a short series,
PatientID = his fiscal code, stored by STOW-RS), and the family doctor's question to the
cardiologist with that study attached. Idempotent; without a PACS the request is seeded
without images."""

from __future__ import annotations

import logging

import aiohttp
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import Patient, User
from telemed.db.teleconsults import Attachment, Teleconsult
from telemed.imaging import dicomweb as dw
from telemed.imaging.samples import series
from telemed.notify import outbox
from telemed.services.teleconsults import set_specialties
from telemed.settings import Settings

log = logging.getLogger("telemed.demo")

QUESTION = (
    "Anna Bruno, 68 anni, ipertensione resistente a tre farmaci; da due settimane "
    "oppressione toracica da sforzo che passa a riposo. In allegato la TC del torace di ieri. "
    "Ritieni utile un ecocardiogramma o un test da sforzo? Possiamo vederla insieme in "
    "teleconsulto?"
)
SLICES = 12


async def _demo_study(settings: Settings, fiscal_code: str) -> str | None:
    """The demo CT study's UID in the PACS (stored now if missing); None without a PACS."""
    if not settings.dicomweb_url:
        return None
    async with aiohttp.ClientSession() as http:
        client = dw.DicomWebClient(settings.dicomweb_url, http, user=settings.dicomweb_user,
                                   password=settings.dicomweb_password)
        try:
            found = await client.search_studies(fiscal_code)
            if found:
                return str(dw.value(found[0], dw.TAG_STUDY_UID))
            sample = series(fiscal_code, count=SLICES, patient_name="BRUNO^ANNA",
                            description="TC torace")
            for part10 in sample.files:
                await client.store(part10)
        except dw.PacsError as exc:
            log.warning("demo study not stored: %s", exc)
            return None
    return sample.study_uid


async def seed_teleconsult(session: AsyncSession, settings: Settings) -> str | None:
    """The demo request (and its study); returns its id, None when the region is not seeded."""
    gp = (await session.exec(select(User).where(User.username == "dr.bianchi"))).first()
    cardio = (await session.exec(select(User).where(User.username == "dr.conti"))).first()
    patient = (await session.exec(select(Patient).where(
        Patient.family_name == "Bruno").where(Patient.given_name == "Anna"))).first()
    if gp is None or cardio is None or patient is None:
        return None
    await set_specialties(session, cardio.id, ["cardiology"])
    study_uid = await _demo_study(settings, patient.fiscal_code)
    consult = (await session.exec(select(Teleconsult).where(
        Teleconsult.patient_id == patient.id).where(Teleconsult.requester_id == gp.id))).first()
    if consult is None:
        consult = Teleconsult(patient_id=patient.id, requester_id=gp.id,
                              specialist_id=cardio.id, question=QUESTION, urgency="urgent",
                              mode="live")
        session.add(consult)
        await session.flush()
        # As a request made in the page would: the cardiologist's bell and email.
        await outbox.teleconsult(session, consult_id=consult.id, patient=patient,
                                 user_ids=[cardio.id], event="requested", urgent=True)
    if study_uid is not None and (await session.exec(select(Attachment).where(
            Attachment.teleconsult_id == consult.id)
            .where(Attachment.study_uid == study_uid))).first() is None:
        session.add(Attachment(patient_id=patient.id, teleconsult_id=consult.id, kind="study",
                               media_type="application/dicom", study_uid=study_uid,
                               filename="TC torace", created_by=gp.id))
    await session.commit()
    return consult.id
