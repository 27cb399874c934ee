"""Patients: registration, demographics, care-team membership."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import tuple_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import CareTeamMember, Patient, User
from telemed.db.types import utcnow
from telemed.domain.errors import DomainValidationError
from telemed.domain.fiscal_code import validate_demographics, validate_fiscal_code
from telemed.errors import conflict, from_domain, invalid
from telemed.principal import CLINICIANS, Principal
from telemed.services import audit
from telemed.services.access import authorize_patient, visible_patient_ids
from telemed.services.consent import record_enrolment_consent
from telemed.services.pagination import Page

PATIENT_FIELDS = ("fiscal_code", "given_name", "family_name", "birth_date", "sex", "phone",
                  "timezone")


def _validated(data: dict[str, Any]) -> dict[str, Any]:
    """Normalized demographics, or a 422 listing every problem."""
    errors = []
    demographics = None
    try:
        demographics = validate_demographics(
            given_name=data["given_name"],
            family_name=data["family_name"],
            birth_date=data["birth_date"],
            sex=data["sex"],
            phone=data.get("phone"),
            timezone=data.get("timezone") or "Europe/Rome",
        )
    except DomainValidationError as exc:
        errors.extend(exc.errors)
    fiscal_code = ""
    try:
        fiscal_code = validate_fiscal_code(
            data["fiscal_code"], birth_date=data["birth_date"], sex=data["sex"]
        )
    except DomainValidationError as exc:
        errors.extend(exc.errors)
    if errors or demographics is None:
        raise from_domain(DomainValidationError(errors))
    return {
        "fiscal_code": fiscal_code,
        "given_name": demographics.given_name,
        "family_name": demographics.family_name,
        "birth_date": demographics.birth_date,
        "sex": demographics.sex,
        "phone": demographics.phone,
        "timezone": demographics.timezone,
    }


async def _unique_fiscal_code(session: AsyncSession, code: str, own_id: str | None) -> None:
    found = (await session.exec(select(Patient).where(Patient.fiscal_code == code))).first()
    if found is not None and found.id != own_id:
        raise conflict("A patient with this fiscal code already exists.", "fiscal_code_taken")


async def create_patient(
    session: AsyncSession, who: Principal, data: dict[str, Any], request_id: str | None = None
) -> Patient:
    """Register a patient; a clinician who registers one joins its care team."""
    clean = _validated(data)
    await _unique_fiscal_code(session, clean["fiscal_code"], None)
    patient = Patient(**{k: clean[k] for k in PATIENT_FIELDS})
    session.add(patient)
    await session.flush()
    await record_enrolment_consent(session, patient.id, who.user_id)
    if who.role in CLINICIANS:
        session.add(
            CareTeamMember(patient_id=patient.id, user_id=who.user_id,
                           responsible=who.role == "doctor")
        )
    audit.record(session, actor=who, action="create", resource="patient",
                 patient_id=patient.id, resource_id=patient.id, request_id=request_id)
    await session.commit()
    return patient


async def update_patient(
    session: AsyncSession,
    who: Principal,
    patient_id: str,
    changes: dict[str, Any],
    request_id: str | None = None,
) -> Patient:
    """Change demographics (validated as a whole)."""
    patient = await authorize_patient(session, who, patient_id, action="update",
                                      resource="patient", resource_id=patient_id,
                                      request_id=request_id)
    merged = {k: getattr(patient, k) for k in PATIENT_FIELDS} | changes
    clean = _validated(merged)
    await _unique_fiscal_code(session, clean["fiscal_code"], patient.id)
    for key in PATIENT_FIELDS:
        setattr(patient, key, clean[key])
    patient.updated_at = utcnow()
    session.add(patient)
    await session.commit()
    return patient


async def get_patient(
    session: AsyncSession, who: Principal, patient_id: str, request_id: str | None = None
) -> Patient:
    """One patient's demographics (audited read)."""
    patient = await authorize_patient(session, who, patient_id, action="read",
                                      resource="patient", resource_id=patient_id,
                                      request_id=request_id)
    await session.commit()
    return patient


async def list_patients(
    session: AsyncSession, who: Principal, page: Page, search: str | None = None
) -> list[Patient]:
    """The patients `who` may see, by family then given name (each listed one audited)."""
    query = select(Patient).order_by(Patient.family_name, Patient.given_name, Patient.id)
    ids = await visible_patient_ids(session, who)
    if ids is not None:
        query = query.where(col(Patient.id).in_(ids))
    if search:
        term = f"%{search.strip().lower()}%"
        from sqlalchemy import func, or_

        query = query.where(
            or_(
                func.lower(Patient.family_name).like(term),
                func.lower(Patient.given_name).like(term),
                func.lower(Patient.fiscal_code).like(term),
            )
        )
    if page.after:
        query = query.where(
            tuple_(Patient.family_name, Patient.given_name, Patient.id) > tuple(page.after)
        )
    patients = list((await session.exec(query.limit(page.limit))).all())
    for patient in patients:
        audit.record(session, actor=who, action="read", resource="patient",
                     patient_id=patient.id, resource_id=patient.id, reason="list")
    await session.commit()
    return patients


async def care_team(session: AsyncSession, patient_id: str) -> list[User]:
    """The clinicians on a patient's care team."""
    result = await session.exec(
        select(User)
        .join(CareTeamMember, col(CareTeamMember.user_id) == col(User.id))
        .where(CareTeamMember.patient_id == patient_id)
        .order_by(User.display_name)
    )
    return list(result.all())


async def add_to_care_team(
    session: AsyncSession, patient_id: str, user_ids: list[str]
) -> None:
    """Put clinicians on the patient's care team (422 when one is not a clinician)."""
    for user_id in dict.fromkeys(user_ids):
        user = await session.get(User, user_id)
        if user is None or user.role not in CLINICIANS or not user.active:
            raise invalid({"care_team": f"{user_id} is not an active doctor or nurse."})
        if await session.get(CareTeamMember, (patient_id, user_id)) is None:
            session.add(CareTeamMember(patient_id=patient_id, user_id=user_id,
                                       responsible=user.role == "doctor"))


def age_on(birth: date, today: date) -> int:
    """Whole years of age on `today`."""
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
