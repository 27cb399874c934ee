"""Patient: demographics with the Italian fiscal code as identifier."""

from __future__ import annotations

from typing import Any

from telemed.api.fhir.common import FISCAL_CODE, fhir_date, instant
from telemed.api.fhir.search import SearchParam, SearchQuery, parse_token
from telemed.api.fhir.spec import ResourceSpec, loaded, rendered
from telemed.db.models import Patient
from telemed.domain.fiscal_code import fhir_gender
from telemed.principal import ROLES
from telemed.services.fhir_rows import PATIENTS, by_id, patient_conditions


def patient_resource(patient: Patient) -> dict[str, Any]:
    """A FHIR R4 Patient from a patient row."""
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": patient.id,
        "meta": {"lastUpdated": instant(patient.updated_at)},
        "identifier": [{"use": "official", "system": FISCAL_CODE, "value": patient.fiscal_code}],
        "active": True,
        "name": [{
            "use": "official",
            "text": f"{patient.given_name} {patient.family_name}",
            "family": patient.family_name,
            "given": [patient.given_name],
        }],
        "gender": fhir_gender(patient.sex),
        "birthDate": fhir_date(patient.birth_date),
    }
    if patient.phone:
        resource["telecom"] = [{"system": "phone", "value": patient.phone}]
    return resource


# --- search and read ----------------------------------------------------------------------


def _conditions(query: SearchQuery) -> list[Any]:
    fiscal_codes = []
    for alternatives in query.all_of("identifier"):
        tokens = [parse_token(v) for v in alternatives]
        if any(t.code is None and t.system == FISCAL_CODE for t in tokens):
            continue  # every patient has a fiscal code
        fiscal_codes.append([t.code.upper() for t in tokens
                             if t.code and t.system in (None, FISCAL_CODE)])
    # names: starts-with, any case and accent (FHIR string)
    return patient_conditions(query.all_of("_id"), fiscal_codes, query.all_of("name"))


SPEC = ResourceSpec(
    type="Patient",
    audit_resource="patient",  # demographics, as in the JSON API (administrators may read them)
    roles=ROLES,
    table=PATIENTS,
    key_types=("str", "str", "str"),
    render=rendered(patient_resource, patient="id"),
    load=loaded(lambda session, ident: by_id(session, Patient, ident), patient_resource,
                patient="id"),
    params=(
        SearchParam("_id", "token", "Logical id of the patient."),
        SearchParam("identifier", "token",
                    f"Fiscal code (codice fiscale), optionally as {FISCAL_CODE}|CODE."),
        SearchParam("name", "string",
                    "Every word is the start of a word of the names or of the fiscal code, "
                    "ignoring case and accents."),
    ),
    conditions=_conditions,
    patient_params=(),
    documentation="Demographics; sorted by family then given name.",
)
