"""Patients: registration, demographics, care-team membership."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, event, insert, tuple_
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapper
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.bus.events import AccessChanged
from telemed.db.events import record_event
from telemed.db.models import CareTeamMember, Patient, PatientSearchTerm, User
from telemed.db.types import utcnow
from telemed.domain.audit_reasons import because
from telemed.domain.errors import DomainValidationError, FieldError
from telemed.domain.fiscal_code import validate_demographics, validate_fiscal_code
from telemed.domain.search_terms import patient_terms, prefix_end, query_words
from telemed.errors import conflict, from_domain, invalid
from telemed.principal import CLINICIANS, Principal
from telemed.services import audit, scope
from telemed.services.access import authorize_patient
from telemed.services.consent import record_enrolment_consent
from telemed.services.pagination import Page

PATIENT_FIELDS = ("fiscal_code", "given_name", "family_name", "birth_date", "sex", "phone",
                  "timezone")


@event.listens_for(Patient, "after_insert")
@event.listens_for(Patient, "after_update")
def _index_terms(mapper: Mapper[Patient], connection: Connection, patient: Patient) -> None:
    """Keep the patient's search terms with its names and fiscal code, however the row was
    written (the service, the demo, a test), in the same transaction."""
    connection.execute(delete(PatientSearchTerm).where(
        col(PatientSearchTerm.patient_id) == patient.id))
    terms = sorted(patient_terms(patient.given_name, patient.family_name, patient.fiscal_code))
    if terms:
        connection.execute(insert(PatientSearchTerm),
                           [{"patient_id": patient.id, "term": term} for term in terms])


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
    record_event(session, AccessChanged(patient.id))
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


def search_condition(query: str) -> ColumnElement[bool] | None:
    """Patients every word of `query` is the start of one of the terms of
    (`telemed.domain.search_terms`: accent- and case-insensitive; names, fiscal code); each
    word is a range on the term index. None when the query holds no word."""
    conditions = []
    for word in query_words(query):
        end = prefix_end(word)
        term = col(PatientSearchTerm.term)
        found = select(PatientSearchTerm.patient_id).where(term >= word)
        if end is not None:
            found = found.where(term < end)
        conditions.append(col(Patient.id).in_(found))
    return and_(*conditions) if conditions else None


async def list_patients(
    session: AsyncSession, who: Principal, page: Page, search: str | None = None,
    request_id: str | None = None,
) -> list[Patient]:
    """The patients `who` may see, by family then given name, one page of them in one
    query (`scope.visible`; keyset on the name-order index); each patient shown audited."""
    query = select(Patient).order_by(col(Patient.family_name), col(Patient.given_name),
                                     col(Patient.id))
    visible = scope.visible(col(Patient.id), who)
    if visible is not None:
        query = query.where(visible)
    if search:
        matches = search_condition(search)
        if matches is None:
            return []  # nothing searchable was typed (only punctuation)
        query = query.where(matches)
    if page.after:
        query = query.where(
            tuple_(col(Patient.family_name), col(Patient.given_name), col(Patient.id))
            > tuple_(*(str(v) for v in page.after)))
    patients = list((await session.exec(query.limit(page.limit))).all())
    await audit.record_reads(session, actor=who, resource="patient",
                             reads=[(p.id, p.id) for p in patients], reason=because("list"),
                             request_id=request_id)
    await session.commit()
    return patients


async def choices(session: AsyncSession, who: Principal, *, limit: int) -> list[Patient]:
    """The first `limit` patients `who` may see, by name, for a form's choice (one query)."""
    query = select(Patient)
    visible = scope.visible(col(Patient.id), who)
    if visible is not None:
        query = query.where(visible)
    return list((await session.exec(
        query.order_by(col(Patient.family_name), col(Patient.given_name), col(Patient.id))
        .limit(limit))).all())


async def own_records(session: AsyncSession, who: Principal) -> list[Patient]:
    """For a portal user: its own record and those delegated to it, by name (one query;
    what is shown of each is audited when it is opened)."""
    if who.role != "patient":
        return []
    visible = scope.visible(col(Patient.id), who)
    assert visible is not None
    return list((await session.exec(
        select(Patient).where(visible)
        .order_by(col(Patient.family_name), col(Patient.given_name), col(Patient.id))
        .limit(100))).all())


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
            raise invalid({"care_team": FieldError(
                "care_team", "not_care_staff", "{user_id} is not an active doctor or nurse.",
                {"user_id": user_id})})
        if await session.get(CareTeamMember, (patient_id, user_id)) is None:
            session.add(CareTeamMember(patient_id=patient_id, user_id=user_id,
                                       responsible=user.role == "doctor"))


def age_on(birth: date, today: date) -> int:
    """Whole years of age on `today`."""
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
