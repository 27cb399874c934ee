"""Row → FHIR R4 mappers: exact codes and units, and every shape valid for fhir.resources."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from telemed.api.fhir.appointment import STATUS, appointment_resource, visit_statuses
from telemed.api.fhir.auditevent import audit_event_resource
from telemed.api.fhir.bundle import search_url, searchset
from telemed.api.fhir.capability import capability_statement
from telemed.api.fhir.careplan import careplan_resource
from telemed.api.fhir.errors import operation_outcome
from telemed.api.fhir.flag import flag_resource
from telemed.api.fhir.handlers import SPECS
from telemed.api.fhir.observation import (
    blood_pressure_panel,
    metrics_for_categories,
    metrics_for_codes,
    observation_id,
    observation_resource,
    parse_observation_id,
    single_observation,
)
from telemed.api.fhir.patient import patient_resource
from telemed.api.fhir.search import parse_token
from telemed.db.models import Alert, AuditEvent, CarePlan, Observation, Patient, User, Visit
from tests.unit.fhir.validation import validate

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
BASE = "https://telemed.example/fhir/R4"
VITAL = "http://terminology.hl7.org/CodeSystem/observation-category"

EXPECTED = {  # metric → (LOINC codes, UCUM code, category, specific profile)
    "heart_rate": (["8867-4"], "/min", "vital-signs", "heartrate"),
    "resp_rate": (["9279-1"], "/min", "vital-signs", "resprate"),
    "spo2": (["2708-6", "59408-5"], "%", "vital-signs", "oxygensat"),
    "body_temp": (["8310-5"], "Cel", "vital-signs", "bodytemp"),
    "body_weight": (["29463-7"], "kg", "vital-signs", "bodyweight"),
    "blood_glucose": (["2339-0"], "mg/dL", "laboratory", None),
}


def reading(metric: str, value: float, row_id: int = 1, *, time: datetime = T0,
            device: str = "dev1") -> Observation:
    return Observation(id=row_id, patient_id="pat1", device_id=device, metric=metric,
                       value=value, unit="x", time=time, received_at=time + timedelta(seconds=5))


def patient(**changes: Any) -> Patient:
    data: dict[str, Any] = dict(
        id="pat1", fiscal_code="RSSMRA80A01H501U", given_name="Mario", family_name="Rossi",
        birth_date=date(1980, 1, 1), sex="M", phone="+393331234567", updated_at=T0,
    )
    return Patient(**(data | changes))


# --- Patient --------------------------------------------------------------------------------


def test_patient_demographics() -> None:
    resource = patient_resource(patient())
    validate(resource)
    assert resource["identifier"] == [{"use": "official",
                                       "system": "http://hl7.it/sid/codiceFiscale",
                                       "value": "RSSMRA80A01H501U"}]
    assert resource["name"][0]["family"] == "Rossi"
    assert resource["name"][0]["given"] == ["Mario"]
    assert resource["gender"] == "male"
    assert resource["birthDate"] == "1980-01-01"
    assert resource["telecom"] == [{"system": "phone", "value": "+393331234567"}]


@pytest.mark.parametrize(("sex", "gender"), [("M", "male"), ("F", "female"), ("X", "unknown")])
def test_patient_gender(sex: str, gender: str) -> None:
    assert patient_resource(patient(sex=sex, phone=None))["gender"] == gender


def test_patient_without_phone_has_no_telecom() -> None:
    resource = patient_resource(patient(phone=None))
    validate(resource)
    assert "telecom" not in resource


# --- Observation ----------------------------------------------------------------------------


@pytest.mark.parametrize("metric", sorted(EXPECTED))
def test_single_observation_follows_vital_signs_profile(metric: str) -> None:
    codes, ucum, category, profile = EXPECTED[metric]
    resource = single_observation(reading(metric, 42.5, 7))
    validate(resource)
    assert resource["id"] == "7"
    assert resource["status"] == "final"
    assert resource["category"][0]["coding"][0]["system"] == VITAL
    assert resource["category"][0]["coding"][0]["code"] == category
    assert [c["code"] for c in resource["code"]["coding"]] == codes
    assert {c["system"] for c in resource["code"]["coding"]} == {"http://loinc.org"}
    assert resource["subject"] == {"reference": "Patient/pat1"}
    assert resource["effectiveDateTime"] == "2026-03-01T08:00:00Z"
    assert resource["device"] == {"reference": "Device/dev1"}
    quantity = resource["valueQuantity"]
    assert quantity["value"] == 42.5
    assert quantity["system"] == "http://unitsofmeasure.org"
    assert quantity["code"] == ucum
    assert quantity["unit"]
    profiles = resource["meta"].get("profile", [])
    if profile is None:
        assert profiles == []
    else:
        assert profiles == ["http://hl7.org/fhir/StructureDefinition/vitalsigns",
                            f"http://hl7.org/fhir/StructureDefinition/{profile}"]


def test_battery_and_bp_components_are_not_single_observations() -> None:
    for metric in ("battery", "bp_systolic", "bp_diastolic"):
        with pytest.raises(ValueError):
            single_observation(reading(metric, 50))


def test_blood_pressure_is_one_panel_with_two_components() -> None:
    systolic, diastolic = reading("bp_systolic", 128, 10), reading("bp_diastolic", 82, 11)
    resource = observation_resource(systolic, diastolic)
    validate(resource)
    assert resource == observation_resource(diastolic, systolic)
    assert resource["id"] == "bp-10"
    assert [c["code"] for c in resource["code"]["coding"]] == ["85354-9"]
    assert "valueQuantity" not in resource
    assert resource["meta"]["profile"][1] == "http://hl7.org/fhir/StructureDefinition/bp"
    components = {c["code"]["coding"][0]["code"]: c["valueQuantity"]
                  for c in resource["component"]}
    assert components["8480-6"]["value"] == 128
    assert components["8462-4"]["value"] == 82
    assert {q["code"] for q in components.values()} == {"mm[Hg]"}
    assert {q["system"] for q in components.values()} == {"http://unitsofmeasure.org"}


def test_half_a_blood_pressure_reading_marks_the_missing_component() -> None:
    resource = blood_pressure_panel(None, reading("bp_diastolic", 82, 11))
    validate(resource)
    assert resource["id"] == "bpd-11"
    systolic, diastolic = resource["component"]
    assert systolic["code"]["coding"][0]["code"] == "8480-6"
    assert "valueQuantity" not in systolic
    assert systolic["dataAbsentReason"]["coding"][0]["code"] == "unknown"
    assert diastolic["valueQuantity"]["value"] == 82
    validate(blood_pressure_panel(reading("bp_systolic", 120, 3), None))


def test_observation_ids_round_trip() -> None:
    assert observation_id(reading("heart_rate", 70, 5)) == "5"
    assert observation_id(reading("bp_systolic", 120, 6)) == "bp-6"
    assert observation_id(reading("bp_diastolic", 80, 7)) == "bpd-7"
    assert parse_observation_id("5") == ("single", 5)
    assert parse_observation_id("bp-6") == ("bp", 6)
    assert parse_observation_id("bpd-7") == ("bpd", 7)
    for bad in ("0", "bp-", "x-1", "bp-01", "abc", "1" * 30):
        assert parse_observation_id(bad) is None


@pytest.mark.parametrize(("code", "metrics"), [
    ("8867-4", {"heart_rate"}),
    ("http://loinc.org|8867-4", {"heart_rate"}),
    ("http://loinc.org|85354-9", {"bp_systolic", "bp_diastolic"}),
    ("59408-5", {"spo2"}),
    ("2708-6", {"spo2"}),
    ("2339-0", {"blood_glucose"}),
    ("http://loinc.org|", {"heart_rate", "resp_rate", "spo2", "body_temp", "bp_systolic",
                           "bp_diastolic", "body_weight", "blood_glucose"}),
    ("8480-6", set()),  # a component code, not an Observation code
    ("http://snomed.info/sct|8867-4", set()),
    ("|8867-4", set()),
])
def test_code_search_maps_to_metrics(code: str, metrics: set[str]) -> None:
    assert metrics_for_codes([parse_token(code)]) == metrics


def test_code_search_accepts_any_iterable() -> None:
    tokens = (parse_token(code) for code in ("8867-4", "2339-0"))
    assert metrics_for_codes(tokens) == {"heart_rate", "blood_glucose"}
    categories = (parse_token(c) for c in ("laboratory", "vital-signs"))
    assert "blood_glucose" in metrics_for_categories(categories)


def test_category_search_maps_to_metrics() -> None:
    lab = metrics_for_categories([parse_token(f"{VITAL}|laboratory")])
    assert lab == {"blood_glucose"}
    vitals = metrics_for_categories([parse_token("vital-signs")])
    assert "blood_glucose" not in vitals and "battery" not in vitals
    assert {"heart_rate", "bp_systolic"} <= vitals


# --- CarePlan -------------------------------------------------------------------------------

CONTENT = {
    "goals": ["Peso stabile", "Pressione sotto 140/90"],
    "care_team": ["doc1"],
    "monitoring": [
        {"metric": "body_weight", "schedule": {"times": ["08:00"], "tolerance_minutes": 60}},
        {"metric": "bp_systolic", "schedule": {"times": ["08:00", "20:00"],
                                               "tolerance_minutes": 30},
         "bands": {"warning_high": 139, "critical_high": 179}, "confirm_count": 2},
        {"metric": "spo2", "schedule": {"continuous": True}, "bands": {}},
    ],
    "trends": [{"metric": "body_weight", "delta": 2, "window_hours": 72}],
    "news2": {"enabled": True, "spo2_scale": 1, "on_oxygen": False},
}


def plan(**changes: Any) -> CarePlan:
    data: dict[str, Any] = dict(
        row_id="row1", plan_id="plan1", version=3, patient_id="pat1", status="active",
        title="Scompenso cardiaco", period_start=date(2026, 1, 1),
        period_end=date(2026, 12, 31), content=CONTENT, created_by="doc1", created_at=T0,
        activated_at=T0 + timedelta(hours=1),
    )
    return CarePlan(**(data | changes))


def test_careplan_shape() -> None:
    resource = careplan_resource(plan())
    validate(resource)
    assert resource["id"] == "plan1"
    assert resource["meta"]["versionId"] == "3"
    assert resource["meta"]["lastUpdated"] == "2026-03-01T09:00:00Z"
    assert resource["status"] == "active"
    assert resource["intent"] == "plan"
    assert resource["subject"] == {"reference": "Patient/pat1"}
    assert resource["period"] == {"start": "2026-01-01", "end": "2026-12-31"}
    assert resource["description"] == "Goals: Peso stabile; Pressione sotto 140/90"
    weight, bp, spo2 = (a["detail"] for a in resource["activity"])
    assert weight["status"] == "in-progress"
    assert weight["code"]["coding"][0]["code"] == "29463-7"
    assert weight["scheduledTiming"]["repeat"]["timeOfDay"] == ["08:00:00"]
    assert "08:00" in weight["description"]
    assert "default thresholds" in weight["description"]
    assert bp["scheduledTiming"]["repeat"]["frequency"] == 2
    assert "above 139" in bp["description"] and "above 179" in bp["description"]
    assert "2 consecutive" in bp["description"]
    assert "scheduledTiming" not in spo2
    assert "continuously" in spo2["description"] and "No threshold" in spo2["description"]
    notes = [n["text"] for n in resource["note"]]
    assert any("+2 kg within 72 h" in n for n in notes)
    assert any("NEWS2" in n for n in notes)


@pytest.mark.parametrize(("status", "activity"), [
    ("draft", "not-started"), ("active", "in-progress"), ("completed", "completed"),
])
def test_careplan_status(status: str, activity: str) -> None:
    resource = careplan_resource(plan(status=status, period_end=None))
    validate(resource)
    assert resource["status"] == status
    assert resource["period"] == {"start": "2026-01-01"}
    assert resource["activity"][0]["detail"]["status"] == activity


def test_careplan_with_unreadable_content_keeps_its_goals() -> None:
    resource = careplan_resource(plan(content={"goals": ["Camminare"], "monitoring": "?"}))
    validate(resource)
    assert resource["description"] == "Goals: Camminare"
    assert "activity" not in resource


# --- Appointment ----------------------------------------------------------------------------


def visit(**changes: Any) -> Visit:
    data: dict[str, Any] = dict(id="vis1", kind="televisit", patient_id="pat1",
                                scheduled_start=T0, duration_minutes=30, status="scheduled",
                                created_by="doc1", created_at=T0 - timedelta(days=1))
    return Visit(**(data | changes))


@pytest.mark.parametrize(("status", "expected"), sorted(STATUS.items()))
def test_appointment_status_mapping(status: str, expected: str) -> None:
    resource = appointment_resource(visit(status=status), [("doc1", "Dr House")])
    validate(resource)
    assert resource["status"] == expected
    assert status in visit_statuses(expected)


def test_appointment_shape() -> None:
    resource = appointment_resource(visit(kind="teleconsult"),
                                    [("doc1", "Dr House"), ("nur1", "Nurse Joy")])
    validate(resource)
    assert resource["start"] == "2026-03-01T08:00:00Z"
    assert resource["end"] == "2026-03-01T08:30:00Z"
    assert resource["minutesDuration"] == 30
    actors = [p["actor"] for p in resource["participant"]]
    assert actors == [{"reference": "Patient/pat1"},
                      {"reference": "Practitioner/doc1", "display": "Dr House"},
                      {"reference": "Practitioner/nur1", "display": "Nurse Joy"}]
    assert {p["status"] for p in resource["participant"]} == {"accepted"}
    assert resource["serviceType"] == [{"text": "Teleconsult"}]


# --- Flag -----------------------------------------------------------------------------------


def alert(**changes: Any) -> Alert:
    data: dict[str, Any] = dict(id="al1", patient_id="pat1", rule_key="threshold:spo2",
                                kind="threshold", metric="spo2", severity="critical",
                                status="open", detail="SpO2 89 % (critical below 92)",
                                opened_at=T0, updated_at=T0)
    return Alert(**(data | changes))


def test_flag_of_an_open_alert() -> None:
    resource = flag_resource(alert())
    validate(resource)
    assert resource["status"] == "active"
    assert resource["category"][0]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/flag-category", "code": "clinical",
        "display": "Clinical"}
    assert resource["code"] == {"text": "SpO2 89 % (critical below 92)"}
    assert resource["subject"] == {"reference": "Patient/pat1"}
    assert resource["period"] == {"start": "2026-03-01T08:00:00Z"}
    priority = resource["extension"][0]["valueCodeableConcept"]["coding"][0]["code"]
    assert priority == "PH"


def test_flag_of_acknowledged_and_resolved_alerts() -> None:
    assert flag_resource(alert(status="acknowledged", severity="warning"))["status"] == "active"
    resolved = flag_resource(alert(status="resolved", resolved_at=T0 + timedelta(hours=2)))
    validate(resolved)
    assert resolved["status"] == "inactive"
    assert resolved["period"]["end"] == "2026-03-01T10:00:00Z"


def test_flag_without_detail_describes_the_alert() -> None:
    resource = flag_resource(alert(detail="", kind="missed_measurement", metric="body_weight",
                                   severity="warning"))
    validate(resource)
    assert resource["code"]["text"] == "Missed measurement: Body weight (warning)"


# --- AuditEvent -----------------------------------------------------------------------------


def event(**changes: Any) -> AuditEvent:
    data: dict[str, Any] = dict(id=5, at=T0, actor_id="doc1", actor_role="doctor",
                                patient_id="pat1", action="read", resource="fhir_observation",
                                resource_id="bp-3", outcome="success")
    return AuditEvent(**(data | changes))


@pytest.mark.parametrize(("action", "code"), [
    ("read", "R"), ("create", "C"), ("update", "U"), ("delete", "D"), ("export", "R"),
    ("emergency", "E"), ("login", "E"),
])
def test_audit_event_action(action: str, code: str) -> None:
    resource = audit_event_resource(event(action=action))
    validate(resource)
    assert resource["action"] == code


def test_audit_event_shape() -> None:
    doctor = User(id="doc1", username="house", password_hash="x", role="doctor",
                  display_name="Dr House")
    resource = audit_event_resource(event(), doctor)
    validate(resource)
    assert resource["id"] == "5"
    assert resource["type"]["code"] == "rest"
    assert resource["recorded"] == "2026-03-01T08:00:00Z"
    assert resource["outcome"] == "0"
    assert resource["agent"][0]["who"] == {"reference": "Practitioner/doc1",
                                           "display": "Dr House"}
    assert resource["agent"][0]["requestor"] is True
    patient_entity, touched = resource["entity"]
    assert patient_entity["what"] == {"reference": "Patient/pat1"}
    assert touched["name"] == "fhir_observation"
    assert touched["what"] == {"identifier": {"value": "bp-3"}}
    assert "purposeOfEvent" not in resource


def test_audit_event_of_an_emergency_access_refused_and_system_events() -> None:
    emergency = audit_event_resource(event(emergency=True, reason_code="emergency",
                                           reason_params={"grounds": "on_call_cover"}))
    validate(emergency)
    assert emergency["purposeOfEvent"][0]["coding"][0]["code"] == "ETREAT"
    assert emergency["entity"][1]["detail"] == [  # the English text and the stable code
        {"type": "reason", "valueString": "On-call cover"},
        {"type": "reason_code", "valueString": "emergency"}]
    denied = audit_event_resource(event(outcome="denied"))
    validate(denied)
    assert denied["outcome"] == "4"
    system = audit_event_resource(event(actor_id=None, actor_role=None, action="create",
                                        resource="alert"))
    validate(system)
    assert system["agent"][0]["who"] == {"display": "Telemed"}
    patient_user = User(id="u9", username="mario", password_hash="x", role="patient",
                        display_name="Mario", patient_id="pat1")
    own = audit_event_resource(event(actor_id="u9", actor_role="patient",
                                     resource="access_log"), patient_user)
    validate(own)
    assert own["agent"][0]["who"]["reference"] == "Patient/pat1"
    admin = audit_event_resource(event(actor_id="adm", actor_role="admin", resource="patient"))
    validate(admin)
    assert admin["agent"][0]["who"] == {"identifier": {"value": "adm"}}


# --- Bundle, CapabilityStatement, OperationOutcome ------------------------------------------


def test_searchset_bundle() -> None:
    resources = [patient_resource(patient()), single_observation(reading("heart_rate", 70))]
    self_url = search_url(BASE, "Observation", [("patient", "pat1")], 2)
    next_url = search_url(BASE, "Observation", [("patient", "pat1")], 2, "abc")
    bundle = searchset(BASE, resources, total=5, self_url=self_url, next_url=next_url)
    validate(bundle)
    assert bundle["type"] == "searchset"
    assert bundle["total"] == 5
    assert bundle["link"] == [
        {"relation": "self", "url": f"{BASE}/Observation?patient=pat1&_count=2"},
        {"relation": "next", "url": f"{BASE}/Observation?patient=pat1&_count=2&_cursor=abc"},
    ]
    assert bundle["entry"][0]["fullUrl"] == f"{BASE}/Patient/pat1"
    assert bundle["entry"][1]["fullUrl"] == f"{BASE}/Observation/1"
    assert {e["search"]["mode"] for e in bundle["entry"]} == {"match"}
    empty = searchset(BASE, [], total=0, self_url=self_url)
    validate(empty)
    assert "entry" not in empty and len(empty["link"]) == 1


def test_capability_statement_lists_every_resource_and_parameter() -> None:
    resource = capability_statement(SPECS, base=BASE, version="1.2.3", date=T0)
    validate(resource)
    assert resource["fhirVersion"] == "4.0.1"
    assert "application/fhir+json" in resource["format"]
    served = {r["type"]: r for r in resource["rest"][0]["resource"]}
    assert set(served) == {"Patient", "Observation", "CarePlan", "Appointment", "Flag",
                           "AuditEvent", "DocumentReference", "Bundle",
                           "QuestionnaireResponse"}
    params = {name: {p["name"] for p in r["searchParam"]} for name, r in served.items()}
    assert {"_id", "identifier"} <= params["Patient"]
    assert {"patient", "code", "date"} <= params["Observation"]
    for name in ("Observation", "CarePlan", "Appointment", "Flag", "AuditEvent"):
        assert "patient" in params[name]
    assert {i["code"] for i in served["Observation"]["interaction"]} == {"read", "search-type"}


@pytest.mark.parametrize(("status", "issue"), [
    (400, "invalid"), (401, "login"), (403, "forbidden"), (404, "not-found"), (500, "exception"),
])
def test_operation_outcome(status: int, issue: str) -> None:
    resource = operation_outcome(status, "some_code", "Something is wrong.")
    validate(resource)
    assert resource["issue"][0]["code"] == issue
    assert resource["issue"][0]["diagnostics"] == "Something is wrong."
