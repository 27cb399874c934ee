"""FHIR R4 API under /fhir/R4: shapes (validated with fhir.resources R4B), search, paging,
access rules (care team, consent, own record, roles) and OperationOutcome errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlmodel import col, select

from telemed import keys
from telemed.app import create_app
from telemed.db.models import (
    Alert,
    AuditEvent,
    Device,
    Observation,
    Patient,
    Visit,
    VisitParticipant,
)
from telemed.db.types import new_id
from telemed.domain.units import METRICS
from telemed.settings import load_settings
from tests.conftest import World
from tests.helpers.plans import PLAN
from tests.unit.fhir.validation import validate

PUBLIC = "http://127.0.0.1:8080"
BASE = "/fhir/R4"
T0 = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
FHIR_JSON = "application/fhir+json"

Client = TestClient[Any, Any]


async def fhir(client: Client, path: str, headers: dict[str, str] | None = None,
               status: int = 200, **extra: str) -> dict[str, Any]:
    """GET a FHIR path; check status and media type; validate the body with fhir.resources."""
    resp = await client.get(path, headers={**(headers or {}), **extra})
    assert resp.status == status, await resp.text()
    assert resp.content_type == FHIR_JSON
    body: dict[str, Any] = await resp.json(content_type=None)
    validate(body)
    if status >= 400:
        assert body["resourceType"] == "OperationOutcome"
    return body


def relative(url: str) -> str:
    assert url.startswith(PUBLIC + BASE)
    return url.removeprefix(PUBLIC)


def ids(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", [])]


async def add_device(app: web.Application, patient_id: str) -> str:
    async with app[keys.SESSIONS]() as session:
        device = Device(serial=f"SN-{new_id()[:12]}", kind="multi", patient_id=patient_id)
        session.add(device)
        await session.commit()
        return device.id


async def add_readings(app: web.Application, patient_id: str, device_id: str,
                       readings: list[tuple[str, float, datetime]]) -> list[int]:
    async with app[keys.SESSIONS]() as session:
        rows = [Observation(patient_id=patient_id, device_id=device_id, metric=metric,
                            value=value, unit=METRICS[metric].canonical_unit, time=time)
                for metric, value, time in readings]
        session.add_all(rows)
        await session.commit()
        return [r.id for r in rows if r.id is not None]


async def add(app: web.Application, *rows: Any) -> None:
    async with app[keys.SESSIONS]() as session:
        session.add_all(rows)
        await session.commit()


async def audit_rows(app: web.Application, patient_id: str, resource: str) -> list[AuditEvent]:
    async with app[keys.SESSIONS]() as session:
        found = await session.exec(select(AuditEvent).where(AuditEvent.patient_id == patient_id)
                                   .where(AuditEvent.resource == resource)
                                   .order_by(col(AuditEvent.id)))
        return list(found.all())


@dataclass
class Scene:
    """A doctor with one patient (readings of every kind) and another team's patient."""

    doctor: dict[str, str]
    doctor_h: dict[str, str]
    patient: Patient
    other: Patient
    device: str
    rows: dict[str, int]


async def scene(client: Client, world: World) -> Scene:
    doctor = await world.user("doctor")
    stranger = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    other = await world.patient(team=[stranger["id"]])
    device = await add_device(client.app, patient.id)
    readings = [
        ("heart_rate", 72, T0),
        ("spo2", 96, T0 + timedelta(minutes=1)),
        ("bp_systolic", 128, T0 + timedelta(hours=1)),
        ("bp_diastolic", 82, T0 + timedelta(hours=1)),
        ("battery", 80, T0 + timedelta(hours=1)),
        ("bp_diastolic", 79, T0 + timedelta(days=1)),  # its systolic was lost
        ("blood_glucose", 110, T0 + timedelta(days=2)),
        ("body_temp", 36.8, T0 + timedelta(days=3)),
    ]
    row_ids = await add_readings(client.app, patient.id, device, readings)
    rows = {f"{m}@{i}": rid for i, ((m, _, _), rid) in enumerate(zip(readings, row_ids,
                                                                      strict=True))}
    other_device = await add_device(client.app, other.id)
    await add_readings(client.app, other.id, other_device, [("heart_rate", 90, T0)])
    return Scene(doctor, await world.token(doctor["username"]), patient, other, device, rows)


# --- metadata and errors ------------------------------------------------------------------


async def test_capability_statement_is_public(client: Client) -> None:
    body = await fhir(client, f"{BASE}/metadata")
    assert body["resourceType"] == "CapabilityStatement"
    assert body["fhirVersion"] == "4.0.1"
    assert body["implementation"]["url"] == PUBLIC + BASE
    types = {r["type"] for r in body["rest"][0]["resource"]}
    assert types == {"Patient", "Observation", "CarePlan", "Appointment", "Flag", "AuditEvent",
                     "Schedule", "Slot", "DocumentReference", "Bundle",
                     "QuestionnaireResponse"}


async def test_errors_are_operation_outcomes(client: Client, world: World) -> None:
    anon = await fhir(client, f"{BASE}/Observation", status=401)
    assert anon["issue"][0]["code"] == "login"
    resp = await client.get(f"{BASE}/Patient/x")
    assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
    await fhir(client, f"{BASE}/Patient", {"Authorization": "Bearer nonsense"}, status=401)
    missing = await fhir(client, f"{BASE}/Unknown", status=404)
    assert missing["issue"][0]["code"] == "not-found"
    method = await client.post(f"{BASE}/Patient", json={})
    assert method.status == 405
    assert method.content_type == FHIR_JSON

    doctor = await world.user("doctor")
    headers = await world.token(doctor["username"])
    await fhir(client, f"{BASE}/Patient/nope", headers, status=404)
    await fhir(client, f"{BASE}/Observation/bp-999999", headers, status=404)
    await fhir(client, f"{BASE}/Observation?date=yesterday", headers, status=400)
    await fhir(client, f"{BASE}/Observation?date=ap2026-01-01", headers, status=400)
    await fhir(client, f"{BASE}/Observation?_count=many", headers, status=400)
    await fhir(client, f"{BASE}/Observation?_cursor=garbage", headers, status=400)
    await fhir(client, f"{BASE}/Observation?patient=Group/1", headers, status=400)
    await fhir(client, f"{BASE}/Observation?code:text=heart", headers, status=400)
    # Unknown parameters are ignored, unless the client asks for strict handling.
    lenient = await fhir(client, f"{BASE}/Observation?colour=blue", headers)
    assert "colour" not in lenient["link"][0]["url"]
    await fhir(client, f"{BASE}/Observation?colour=blue", headers, status=400,
               Prefer="handling=strict")
    # The JSON API keeps its own error shape.
    assert "error" in await (await client.get("/api/v1/patients")).json()


# --- Patient --------------------------------------------------------------------------------


async def test_patient_read_and_search(client: Client, world: World) -> None:
    s = await scene(client, world)
    body = await fhir(client, f"{BASE}/Patient/{s.patient.id}", s.doctor_h)
    assert body["identifier"][0] == {"use": "official",
                                     "system": "http://hl7.it/sid/codiceFiscale",
                                     "value": s.patient.fiscal_code}
    assert body["gender"] == "male"
    assert body["birthDate"] == s.patient.birth_date.isoformat()

    code = s.patient.fiscal_code
    for value in (code, f"http://hl7.it/sid/codiceFiscale|{code}", code.lower()):
        found = await fhir(client, f"{BASE}/Patient?identifier={quote(value)}", s.doctor_h)
        assert ids(found) == [s.patient.id] and found["total"] == 1
        entry = found["entry"][0]
        assert entry["fullUrl"] == f"{PUBLIC}{BASE}/Patient/{s.patient.id}"
        assert entry["search"]["mode"] == "match"
    assert ids(await fhir(client, f"{BASE}/Patient?_id={s.patient.id}", s.doctor_h)) == [
        s.patient.id]
    assert ids(await fhir(client, f"{BASE}/Patient", s.doctor_h)) == [s.patient.id]
    # Another team's patient: refused by id, invisible to searches.
    await fhir(client, f"{BASE}/Patient/{s.other.id}", s.doctor_h, status=403)
    hidden = await fhir(client, f"{BASE}/Patient?identifier={s.other.fiscal_code}", s.doctor_h)
    assert hidden["total"] == 0 and "entry" not in hidden
    assert len(await audit_rows(client.app, s.patient.id, "patient")) >= 4


async def test_admin_sees_demographics_only(client: Client, world: World) -> None:
    s = await scene(client, world)
    admin = await world.user("admin")
    admin_h = await world.token(admin["username"])
    await fhir(client, f"{BASE}/Patient/{s.other.id}", admin_h)
    everyone = await fhir(client, f"{BASE}/Patient?_count=100", admin_h)
    assert {s.patient.id, s.other.id} <= set(ids(everyone))
    for path in ("Observation", "CarePlan", "Appointment", "Flag",
                 f"Observation?patient={s.patient.id}"):
        outcome = await fhir(client, f"{BASE}/{path}", admin_h, status=403)
        assert outcome["issue"][0]["code"] == "forbidden"


# --- Observation ----------------------------------------------------------------------------


async def test_observations_of_a_patient(client: Client, world: World) -> None:
    s = await scene(client, world)
    bundle = await fhir(client, f"{BASE}/Observation?patient=Patient/{s.patient.id}",
                        s.doctor_h)
    r = s.rows
    assert ids(bundle) == [  # newest first; battery not exported; one BP panel per reading
        str(r["body_temp@7"]), str(r["blood_glucose@6"]), f"bpd-{r['bp_diastolic@5']}",
        f"bp-{r['bp_systolic@2']}", str(r["spo2@1"]), str(r["heart_rate@0"]),
    ]
    assert bundle["total"] == 6
    by_id = {e["resource"]["id"]: e["resource"] for e in bundle["entry"]}
    panel = by_id[f"bp-{r['bp_systolic@2']}"]
    assert panel["code"]["coding"][0]["code"] == "85354-9"
    assert {c["code"]["coding"][0]["code"]: c["valueQuantity"]["value"]
            for c in panel["component"]} == {"8480-6": 128, "8462-4": 82}
    assert panel["device"] == {"reference": f"Device/{s.device}"}
    assert panel["effectiveDateTime"] == "2026-02-01T09:00:00Z"
    orphan = by_id[f"bpd-{r['bp_diastolic@5']}"]
    assert "dataAbsentReason" in orphan["component"][0]
    glucose = by_id[str(r["blood_glucose@6"])]
    assert glucose["category"][0]["coding"][0]["code"] == "laboratory"
    assert glucose["valueQuantity"]["code"] == "mg/dL"
    spo2 = by_id[str(r["spo2@1"])]
    assert [c["code"] for c in spo2["code"]["coding"]] == ["2708-6", "59408-5"]
    assert spo2["category"][0]["coding"][0]["code"] == "vital-signs"
    # The same, by bare id and by subject.
    assert ids(await fhir(client, f"{BASE}/Observation?patient={s.patient.id}",
                          s.doctor_h)) == ids(bundle)
    assert ids(await fhir(client, f"{BASE}/Observation?subject=Patient/{s.patient.id}",
                          s.doctor_h)) == ids(bundle)

    # Read by id.
    read = await fhir(client, f"{BASE}/Observation/bp-{r['bp_systolic@2']}", s.doctor_h)
    assert read == panel
    for hidden in (r["bp_systolic@2"], r["bp_diastolic@3"], f"bpd-{r['bp_diastolic@3']}",
                   f"bp-{r['bp_diastolic@3']}", r["battery@4"], f"bp-{r['heart_rate@0']}"):
        await fhir(client, f"{BASE}/Observation/{hidden}", s.doctor_h, status=404)
    events = await audit_rows(client.app, s.patient.id, "fhir_observation")
    assert events and all(e.actor_id == s.doctor["id"] for e in events)
    assert events[-1].resource_id == f"bp-{r['bp_systolic@2']}"


async def test_observation_search_by_code_and_date(client: Client, world: World) -> None:
    s = await scene(client, world)
    r = s.rows
    url = f"{BASE}/Observation?patient={s.patient.id}"

    async def found(query: str) -> list[str]:
        return ids(await fhir(client, f"{url}&{query}", s.doctor_h))

    panels = [f"bpd-{r['bp_diastolic@5']}", f"bp-{r['bp_systolic@2']}"]
    assert await found("code=85354-9") == panels
    assert await found(f"code={quote('http://loinc.org|85354-9')}") == panels
    assert await found("code=8867-4") == [str(r["heart_rate@0"])]
    assert await found("code=59408-5") == [str(r["spo2@1"])]
    assert await found("code=8867-4,2339-0") == [str(r["blood_glucose@6"]),
                                                  str(r["heart_rate@0"])]
    assert await found(f"code={quote('http://snomed.info/sct|8867-4')}") == []
    assert await found("category=laboratory") == [str(r["blood_glucose@6"])]
    assert await found("date=2026-02-01") == [panels[1], str(r["spo2@1"]),
                                              str(r["heart_rate@0"])]
    assert await found("date=ge2026-02-02&date=le2026-02-03") == [
        str(r["blood_glucose@6"]), panels[0]]
    assert await found("date=gt2026-02-01T08:00:00Z&date=lt2026-02-01T10:00Z") == [
        panels[1], str(r["spo2@1"])]
    assert await found(f"date=ge{quote('2026-02-01T09:59:00+01:00')}&date=le2026-02-01") == [
        panels[1]]
    assert await found("date=eq2026-02-01T08:00:00Z") == [str(r["heart_rate@0"])]
    assert await found("date=ne2026-02-01&code=85354-9") == [panels[0]]
    assert await found("date=lt2026-01-01") == []


async def test_observation_paging(client: Client, world: World) -> None:
    s = await scene(client, world)
    # Seven more readings, several at the same time (the cursor breaks ties by row id).
    earlier = [T0 - timedelta(minutes=m) for m in (1, 1, 1, 2, 2, 3, 4)]
    metrics = ["heart_rate", "spo2", "resp_rate", "heart_rate", "body_temp", "heart_rate",
               "heart_rate"]
    more = [(m, 70.0, t) for m, t in zip(metrics, earlier, strict=True)]
    await add_readings(client.app, s.patient.id, s.device, more)
    everything = ids(await fhir(client, f"{BASE}/Observation?patient={s.patient.id}",
                                s.doctor_h))
    assert len(everything) == 13
    path: str | None = f"{BASE}/Observation?patient={s.patient.id}&_count=5"
    pages: list[list[str]] = []
    while path:
        page = await fhir(client, path, s.doctor_h)
        assert page["total"] == 13
        links = {link["relation"]: link["url"] for link in page["link"]}
        assert relative(links["self"]).startswith(f"{BASE}/Observation?patient=")
        pages.append(ids(page))
        path = relative(links["next"]) if "next" in links else None
    assert [len(p) for p in pages] == [5, 5, 3]
    assert [i for p in pages for i in p] == everything
    # _count is capped at 100; _count=0 gives only the total.
    capped = await fhir(client, f"{BASE}/Observation?patient={s.patient.id}&_count=500",
                        s.doctor_h)
    assert "_count=100" in capped["link"][0]["url"]
    summary = await fhir(client, f"{BASE}/Observation?patient={s.patient.id}&_count=0",
                         s.doctor_h)
    assert summary["total"] == 13 and "entry" not in summary and len(summary["link"]) == 1
    # A cursor of another resource type is refused.
    last_page = relative(links["self"])
    assert "_cursor=" in last_page
    await fhir(client, last_page.replace("/Observation?", "/Flag?"), s.doctor_h, status=400)


async def test_consent_and_care_team_rules(client: Client, world: World) -> None:
    s = await scene(client, world)
    # Another team's patient: 403, audited as denied; absent from searches without patient.
    refused = await fhir(client, f"{BASE}/Observation?patient={s.other.id}", s.doctor_h,
                         status=403)
    assert refused["issue"][0]["code"] == "forbidden"
    denied = await audit_rows(client.app, s.other.id, "fhir_observation")
    assert [e.outcome for e in denied] == ["denied"]
    mine = await fhir(client, f"{BASE}/Observation", s.doctor_h)
    assert {e["resource"]["subject"]["reference"] for e in mine["entry"]} == {
        f"Patient/{s.patient.id}"}
    searched = await audit_rows(client.app, s.patient.id, "fhir_observation")
    assert searched[-1].reason_code == "search"
    # An unknown patient matches nothing.
    assert (await fhir(client, f"{BASE}/Observation?patient=nobody", s.doctor_h))["total"] == 0

    admin_h = await world.token((await world.user("admin"))["username"])
    resp = await client.post(f"/api/v1/patients/{s.patient.id}/consents", headers=admin_h,
                             json={"granted": False, "note": "Revocato per iscritto"})
    assert resp.status == 201
    for path in (f"Observation?patient={s.patient.id}", f"Patient/{s.patient.id}",
                 f"Observation/{s.rows['heart_rate@0']}", f"CarePlan?patient={s.patient.id}",
                 f"Flag?patient={s.patient.id}", f"Appointment?patient={s.patient.id}"):
        await fhir(client, f"{BASE}/{path}", s.doctor_h, status=403)
    assert (await fhir(client, f"{BASE}/Observation", s.doctor_h))["total"] == 0
    assert (await fhir(client, f"{BASE}/Patient", s.doctor_h))["total"] == 0


async def test_emergency_access_opens_the_record_and_is_flagged(
    client: Client, world: World
) -> None:
    s = await scene(client, world)
    er = await world.user("doctor")
    er_h = await world.token(er["username"])
    await fhir(client, f"{BASE}/Observation?patient={s.patient.id}", er_h, status=403)
    resp = await client.post(f"/api/v1/patients/{s.patient.id}/emergency-access", headers=er_h,
                             json={"reason": "Paziente incosciente in pronto soccorso",
                                   "reason_code": "unable_to_consent"})
    assert resp.status == 201
    assert (await fhir(client, f"{BASE}/Observation?patient={s.patient.id}", er_h))["total"] == 6
    # Emergency access opens named records only; searches list one's own patients.
    assert (await fhir(client, f"{BASE}/Observation", er_h))["total"] == 0

    me = await world.user("patient", patient_id=s.patient.id)
    log = await fhir(client, f"{BASE}/AuditEvent?patient={s.patient.id}&_count=100",
                     await world.token(me["username"]))
    emergency = [e["resource"] for e in log["entry"] if "purposeOfEvent" in e["resource"]]
    assert emergency
    assert all(e["agent"][0]["who"]["reference"] == f"Practitioner/{er['id']}"
               for e in emergency)
    assert emergency[0]["purposeOfEvent"][0]["coding"][0]["code"] == "ETREAT"


async def test_a_patient_sees_only_their_own_data(client: Client, world: World) -> None:
    s = await scene(client, world)
    me = await world.user("patient", patient_id=s.patient.id)
    my_h = await world.token(me["username"])
    own = await fhir(client, f"{BASE}/Observation", my_h)
    assert own["total"] == 6
    assert {e["resource"]["subject"]["reference"] for e in own["entry"]} == {
        f"Patient/{s.patient.id}"}
    assert (await fhir(client, f"{BASE}/Observation?patient={s.patient.id}", my_h))["total"] == 6
    await fhir(client, f"{BASE}/Observation?patient={s.other.id}", my_h, status=403)
    await fhir(client, f"{BASE}/Patient/{s.other.id}", my_h, status=403)
    assert ids(await fhir(client, f"{BASE}/Patient", my_h)) == [s.patient.id]
    async with client.app[keys.SESSIONS]() as session:
        other_row = (await session.exec(select(Observation.id).where(
            Observation.patient_id == s.other.id))).one()
    await fhir(client, f"{BASE}/Observation/{other_row}", my_h, status=403)


# --- CarePlan -------------------------------------------------------------------------------


async def test_careplan_is_the_current_version(client: Client, world: World) -> None:
    s = await scene(client, world)
    resp = await client.post(f"/api/v1/patients/{s.patient.id}/careplans", headers=s.doctor_h,
                             json=PLAN)
    assert resp.status == 201, await resp.text()
    plan_id = (await resp.json())["id"]
    draft = await fhir(client, f"{BASE}/CarePlan/{plan_id}", s.doctor_h)
    assert draft["status"] == "draft" and draft["meta"]["versionId"] == "1"
    assert (await client.post(f"/api/v1/careplans/{plan_id}/activate",
                              headers=s.doctor_h)).status == 200
    resp = await client.patch(f"/api/v1/careplans/{plan_id}", headers=s.doctor_h,
                              json={"goals": ["Peso stabile", "Camminare 30 minuti"]})
    assert resp.status == 200, await resp.text()

    bundle = await fhir(client, f"{BASE}/CarePlan?patient={s.patient.id}", s.doctor_h)
    assert ids(bundle) == [plan_id] and bundle["total"] == 1
    plan = bundle["entry"][0]["resource"]
    assert plan["status"] == "active" and plan["intent"] == "plan"
    assert plan["meta"]["versionId"] == "2"
    assert plan["subject"] == {"reference": f"Patient/{s.patient.id}"}
    assert plan["period"]["start"] == PLAN["period_start"]
    assert plan["title"] == PLAN["title"]
    assert "Camminare 30 minuti" in plan["description"]
    texts = [a["detail"]["description"] for a in plan["activity"]]
    assert len(texts) == 2 and "08:00" in texts[0] and "20:00" in texts[1]
    assert ids(await fhir(client, f"{BASE}/CarePlan?patient={s.patient.id}&status=active",
                          s.doctor_h)) == [plan_id]
    assert ids(await fhir(client, f"{BASE}/CarePlan?patient={s.patient.id}&status=draft",
                          s.doctor_h)) == []
    await fhir(client, f"{BASE}/CarePlan/nope", s.doctor_h, status=404)


# --- Appointment ----------------------------------------------------------------------------


async def test_appointments(client: Client, world: World) -> None:
    s = await scene(client, world)
    specialist = await world.user("doctor")  # invited, not on the care team
    nurse = await world.user("nurse")
    booked = Visit(kind="televisit", patient_id=s.patient.id, scheduled_start=T0,
                   duration_minutes=30, created_by=s.doctor["id"])
    done = Visit(kind="teleconsult", patient_id=s.patient.id, status="completed",
                 scheduled_start=T0 - timedelta(days=7), duration_minutes=45,
                 created_by=s.doctor["id"])
    cancelled = Visit(kind="teleassistance", patient_id=s.patient.id, status="cancelled",
                      scheduled_start=T0 + timedelta(days=7), duration_minutes=20,
                      created_by=s.doctor["id"])
    await add(client.app, booked, done, cancelled)
    await add(client.app, *(VisitParticipant(visit_id=v.id, user_id=u,
                                             scheduled_start=v.scheduled_start)
                            for v, u in ((booked, s.doctor["id"]), (done, s.doctor["id"]),
                                         (done, specialist["id"]), (cancelled, nurse["id"]))))

    bundle = await fhir(client, f"{BASE}/Appointment?patient={s.patient.id}", s.doctor_h)
    assert ids(bundle) == [cancelled.id, booked.id, done.id]
    statuses = {e["resource"]["id"]: e["resource"]["status"] for e in bundle["entry"]}
    assert statuses == {cancelled.id: "cancelled", booked.id: "booked", done.id: "fulfilled"}
    appointment = bundle["entry"][1]["resource"]
    assert appointment["start"] == "2026-02-01T08:00:00Z"
    assert appointment["end"] == "2026-02-01T08:30:00Z"
    assert [p["actor"]["reference"] for p in appointment["participant"]] == [
        f"Patient/{s.patient.id}", f"Practitioner/{s.doctor['id']}"]
    assert ids(await fhir(client, f"{BASE}/Appointment?patient={s.patient.id}"
                                  "&date=ge2026-02-01&date=lt2026-02-02", s.doctor_h)) == [
        booked.id]
    assert ids(await fhir(client, f"{BASE}/Appointment?status=fulfilled,cancelled",
                          s.doctor_h)) == [cancelled.id, done.id]

    # A consulted specialist reads and lists the visits they were invited to, nothing else,
    # and only while the invitation opens them (7 days from the start: no lasting right).
    recent = Visit(kind="teleconsult", patient_id=s.patient.id,
                   scheduled_start=datetime.now(UTC) - timedelta(days=1), duration_minutes=30,
                   created_by=s.doctor["id"])
    await add(client.app, recent)
    await add(client.app, VisitParticipant(visit_id=recent.id, user_id=specialist["id"],
                                           scheduled_start=recent.scheduled_start))
    specialist_h = await world.token(specialist["username"])
    await fhir(client, f"{BASE}/Appointment/{recent.id}", specialist_h)
    await fhir(client, f"{BASE}/Appointment/{done.id}", specialist_h, status=403)
    await fhir(client, f"{BASE}/Appointment/{booked.id}", specialist_h, status=403)
    assert ids(await fhir(client, f"{BASE}/Appointment", specialist_h)) == [recent.id]
    me = await world.user("patient", patient_id=s.patient.id)
    assert (await fhir(client, f"{BASE}/Appointment",
                       await world.token(me["username"])))["total"] == 4


# --- Flag -----------------------------------------------------------------------------------


async def test_flags_are_the_alerts_that_need_attention(client: Client, world: World) -> None:
    s = await scene(client, world)
    opened = Alert(patient_id=s.patient.id, rule_key="threshold:spo2", kind="threshold",
                   metric="spo2", severity="critical", detail="SpO2 89 %", opened_at=T0)
    acked = Alert(patient_id=s.patient.id, rule_key="trend:body_weight", kind="trend",
                  metric="body_weight", severity="warning", status="acknowledged",
                  detail="Peso +2.3 kg in 72 h", opened_at=T0 - timedelta(hours=1))
    resolved = Alert(patient_id=s.patient.id, rule_key="threshold:heart_rate",
                     kind="threshold", metric="heart_rate", severity="warning",
                     status="resolved", detail="FC 115", opened_at=T0 - timedelta(days=1),
                     resolved_at=T0)
    elsewhere = Alert(patient_id=s.other.id, rule_key="threshold:heart_rate",
                      kind="threshold", severity="warning", detail="FC 120", opened_at=T0)
    await add(client.app, opened, acked, resolved, elsewhere)

    bundle = await fhir(client, f"{BASE}/Flag?patient={s.patient.id}", s.doctor_h)
    assert ids(bundle) == [opened.id, acked.id]
    flag = bundle["entry"][0]["resource"]
    assert flag["status"] == "active"
    assert flag["code"]["text"] == "SpO2 89 %"
    assert flag["category"][0]["coding"][0]["code"] == "clinical"
    assert flag["period"]["start"] == "2026-02-01T08:00:00Z"
    assert ids(await fhir(client, f"{BASE}/Flag", s.doctor_h)) == [opened.id, acked.id]
    gone = await fhir(client, f"{BASE}/Flag/{resolved.id}", s.doctor_h)
    assert gone["status"] == "inactive" and gone["period"]["end"] == "2026-02-01T08:00:00Z"
    await fhir(client, f"{BASE}/Flag/{elsewhere.id}", s.doctor_h, status=403)


# --- AuditEvent -----------------------------------------------------------------------------


async def test_audit_events_for_the_patient_and_admins_only(
    client: Client, world: World
) -> None:
    s = await scene(client, world)
    await fhir(client, f"{BASE}/Observation?patient={s.patient.id}", s.doctor_h)
    me = await world.user("patient", patient_id=s.patient.id)
    my_h = await world.token(me["username"])
    log = await fhir(client, f"{BASE}/AuditEvent", my_h)
    events = [e["resource"] for e in log["entry"]]
    assert {e["entity"][0]["what"]["reference"] for e in events} == {f"Patient/{s.patient.id}"}
    reads = [e for e in events if e["entity"][1]["name"] == "fhir_observation"]
    assert reads and reads[-1]["action"] == "R" and reads[-1]["outcome"] == "0"
    assert reads[-1]["agent"][0]["who"]["reference"] == f"Practitioner/{s.doctor['id']}"
    assert reads[-1]["type"]["code"] == "rest"
    one = await fhir(client, f"{BASE}/AuditEvent/{reads[-1]['id']}", my_h)
    assert one["id"] == reads[-1]["id"]
    await fhir(client, f"{BASE}/AuditEvent?patient={s.other.id}", my_h, status=403)

    admin_h = await world.token((await world.user("admin"))["username"])
    other_log = await fhir(client, f"{BASE}/AuditEvent?patient={s.other.id}", admin_h)
    assert other_log["total"] >= 1
    dated = await fhir(client, f"{BASE}/AuditEvent?patient={s.patient.id}&date=lt2000-01-01",
                       admin_h)
    assert dated["total"] == 0
    await fhir(client, f"{BASE}/AuditEvent?patient={s.patient.id}", s.doctor_h, status=403)
    await fhir(client, f"{BASE}/AuditEvent/{reads[-1]['id']}", s.doctor_h, status=403)
    # Reading the access log is itself logged.
    assert await audit_rows(client.app, s.patient.id, "access_log")


# --- the same searches on PostgreSQL ------------------------------------------------------


@pytest.mark.postgres
async def test_searches_on_postgresql(
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
    migrated_postgres_url: str,
    tmp_path: Path,
) -> None:
    settings = load_settings(env="test", data_dir=tmp_path, database_url=migrated_postgres_url,
                             secret_key="test-secret-key-0123456789-abcdefghij",
                             public_url=PUBLIC, language="en")
    client = await aiohttp_client(create_app(settings))
    world = World(client.app, client)
    for scenario in (test_observations_of_a_patient, test_observation_search_by_code_and_date,
                     test_observation_paging, test_consent_and_care_team_rules,
                     test_careplan_is_the_current_version, test_appointments,
                     test_flags_are_the_alerts_that_need_attention,
                     test_audit_events_for_the_patient_and_admins_only):
        await scenario(client, world)
