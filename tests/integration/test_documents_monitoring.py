"""The telemonitoring final report drafts itself when a plan is completed: adherence to the
schedule, readings per metric (min/median/max, charted in the PDF), alerts and how they were
handled, the questionnaires' scores with their band and trend; the doctor signs it; its Bundle
carries one Observation per metric and one per questionnaire score. And the signed
visit reports of before 0012 became documents whose old hash stays checkable."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.db.models import Alert, Device, Document, Observation, QuestionnaireResponse
from tests.conftest import PASSWORD, World
from tests.helpers.documents import pdf_text
from tests.helpers.pages import log_in, text_of
from tests.helpers.plans import PLAN
from tests.unit.fhir.validation import validate


async def test_final_report_drafted_from_data(client: TestClient[Any, Any],
                                              world: World) -> None:
    doctor = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    headers = await world.token(doctor["username"])
    made = await client.post(f"/api/v1/patients/{patient.id}/careplans", headers=headers,
                             json=PLAN)
    plan_id = (await made.json())["id"]
    assert (await client.post(f"/api/v1/careplans/{plan_id}/activate",
                              headers=headers)).status == 200
    # Three days of data: weight every morning (one missed), a critical pressure alert
    # opened at 23:30 UTC, after midnight in Rome (the service's zone): the report says it
    # in Italian words at Rome's time.
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=3)
    late = datetime.combine((start + timedelta(days=1)).date(), datetime.min.time(),
                            tzinfo=UTC).replace(hour=23, minute=30)
    rome = ZoneInfo("Europe/Rome")
    opened_text = f"{late.astimezone(rome):%d/%m/%Y %H:%M}"
    handled_text = f"{(late + timedelta(minutes=9)).astimezone(rome):%d/%m/%Y %H:%M}"
    async with world.app[keys.SESSIONS]() as session:
        from sqlmodel import select

        from telemed.db.models import CarePlan

        row = (await session.exec(select(CarePlan).where(CarePlan.plan_id == plan_id))).one()
        row.activated_at = start
        session.add(row)
        device = Device(serial=f"scale-{plan_id[:8]}", kind="multi", patient_id=patient.id)
        session.add(device)
        await session.flush()
        weights = [80.0, 81.5, 83.0]
        for day, value in zip((1, 2), weights, strict=False):
            at = (start + timedelta(days=day)).astimezone(UTC)
            local8 = at.replace(hour=7, minute=0, second=0)  # 08:00 Rome in winter
            session.add(Observation(patient_id=patient.id, device_id=device.id,
                                    metric="body_weight", value=value, unit="kg",
                                    time=local8))
        for i, value in enumerate((120.0, 185.0, 130.0, 140.0)):
            session.add(Observation(patient_id=patient.id, device_id=device.id,
                                    metric="bp_systolic", value=value, unit="mmHg",
                                    time=start + timedelta(hours=10 + 12 * i)))
        session.add(Alert(patient_id=patient.id, rule_key="threshold:bp_systolic",
                          kind="threshold", metric="bp_systolic", severity="critical",
                          status="resolved", value=185.0,
                          opened_at=late, acknowledged_at=late + timedelta(minutes=9),
                          resolved_at=late + timedelta(minutes=40),
                          resolve_note="Terapia adeguata"))
        # PHQ-9 twice in the period (mild, then moderate: worse), once before it (left out)
        for hours, score, band in ((-30, 22, "severe"), (5, 7, "mild"), (50, 12, "moderate")):
            session.add(QuestionnaireResponse(
                patient_id=patient.id, questionnaire="phq9", answers={}, score=score,
                band=band, flags=["item9"] if score == 12 else [],
                entered_by=doctor["id"],
                authored_at=start + timedelta(hours=hours)))
        await session.commit()
    done = await client.post(f"/api/v1/careplans/{plan_id}/complete", headers=headers)
    assert done.status == 200
    listed = await (await client.get(f"/api/v1/patients/{patient.id}/documents",
                                     headers=headers)).json()
    [doc] = listed["items"]
    assert doc["kind"] == "monitoring_final_report" and doc["status"] == "draft"
    figures = doc["figures"]
    assert figures["expected"] >= 8 and 0 < figures["taken"] < figures["expected"]
    bp = next(m for m in figures["metrics"] if m["metric"] == "bp_systolic")
    assert (bp["count"], bp["min"], bp["median"], bp["max"]) == (4, 120.0, 135.0, 185.0)
    [alert] = figures["alerts"]
    assert alert["minutes_to_handle"] == 9 and alert["note"] == "Terapia adeguata"
    sections = {s["key"]: s["text"] for s in doc["sections"]}
    assert "Pressione arteriosa sistolica: n=4, min 120, mediana 135, max 185 mmHg" in \
        sections["readings"]
    alert_line = (f"{opened_text} Critico Valore fuori soglia Pressione arteriosa sistolica: "
                  f"Risolta, {handled_text} · Terapia adeguata")
    assert sections["alerts"] == alert_line
    [phq] = figures["questionnaires"]
    assert (phq["code"], phq["count"], phq["first"]["score"], phq["last"]["score"],
            phq["last"]["band"], phq["trend"], phq["flagged"]) == \
        ("phq9", 2, 7, 12, "moderate", "worse", 1)
    assert sections["questionnaires"].startswith("Umore (PHQ-9): 2 risposte; ultima ")
    assert "12/27, moderata (prima 7, min 7, max 12); andamento: in peggioramento" in \
        sections["questionnaires"]
    await log_in(client, doctor["username"])
    html = await (await client.get(f"/documents/{doc['id']}",
                                   headers={"Accept-Language": "it"})).text()
    page = text_of(html)
    assert "Punteggi dei questionari nel periodo" in page
    # On a phone the table scrolls within its card; the line under the heading does not
    # repeat the title (the kind's Italian name is the title).
    assert '<div class="table-scroll" tabindex="0" role="region" aria-labelledby=' \
        '"scores-title">' in html
    lead = html.split('<p class="lead">', 1)[1].split("</p>", 1)[0]
    assert doc["title"] not in lead and "badge--draft" in lead
    assert "12/27 moderata in peggioramento" in page and "1 con un segnale d'allarme" in page
    url = f"/api/v1/documents/{doc['id']}"
    await client.patch(url, headers=headers, json={"sections": {
        "findings": "Buona aderenza; un episodio ipertensivo gestito.",
        "conclusions": "Chiusura del telemonitoraggio."}})
    signed = await client.post(url + "/sign", headers=headers, json={"password": PASSWORD})
    assert signed.status == 200, await signed.text()
    bundle = await (await client.get(url + "/fhir", headers=headers)).json()
    validate(bundle)
    composition = bundle["entry"][0]["resource"]
    assert composition["type"]["coding"][0]["code"] == "53576-5"
    observations = [e["resource"] for e in bundle["entry"]
                    if e["resource"]["resourceType"] == "Observation"]
    assert {o["code"]["coding"][0]["code"] for o in observations} == {"8480-6", "29463-7",
                                                                       "44261-6"}
    readings = next(s for s in composition["section"] if s["code"]["coding"][0]["code"]
                    == "8716-3")
    assert len(readings["entry"]) == 2
    scores = next(s for s in composition["section"] if s["code"]["coding"][0]["code"]
                  == "51848-0")
    [score] = [e["resource"] for e in bundle["entry"]
               if e["fullUrl"] == scores["entry"][0]["reference"]]
    assert (score["valueInteger"], score["interpretation"][0]["text"]) == (12, "moderata")
    pdf = await (await client.get(url + "/pdf", headers=headers)).read()
    assert pdf.startswith(b"%PDF")
    printed = pdf_text(pdf)
    assert alert_line in printed and "Allarmi e loro gestione" in printed
    signed_at = datetime.fromisoformat((await signed.json())["signed_at"]).astimezone(rome)
    assert f"il {signed_at:%d/%m/%Y %H:%M}, con il sigillo elettronico" in printed
    assert (await (await client.post(url + "/verify", headers=headers)).json())["ok"] is True


async def test_migrated_visit_report_keeps_its_hash(client: TestClient[Any, Any],
                                                    world: World) -> None:
    """The 0012 data step, re-run on a report written the old way."""
    import sqlalchemy as sa

    from telemed.db.models import VisitReport
    from telemed.services.visit_reports import content_hash_of
    from tests.integration.visit_helpers import make_visit

    setup = await make_visit(world)
    signed_at = datetime(2026, 10, 1, 9, 30, tzinfo=UTC)
    text = "Referto d'altri tempi.\n\nSecondo paragrafo."
    async with world.app[keys.SESSIONS]() as session:
        session.add(VisitReport(visit_id=setup.visit_id, author_id=setup.doctor["id"],
                                text=text, signed_at=signed_at,
                                content_hash=content_hash_of(
                                    visit_id=setup.visit_id, author_id=setup.doctor["id"],
                                    signed_at=signed_at, text=text)))
        await session.commit()

        def rerun(connection: sa.Connection) -> None:
            import importlib

            from alembic.migration import MigrationContext
            from alembic.operations import Operations

            import telemed.db.migrations.versions as versions

            module = importlib.import_module(f"{versions.__name__}.0012_documents")
            with Operations.context(MigrationContext.configure(connection)):
                module._migrate_reports()

        await (await session.connection()).run_sync(rerun)
        await session.commit()
    headers = setup.headers[setup.patient_user["username"]]
    got = await client.get(f"/api/v1/visits/{setup.visit_id}/report", headers=headers)
    assert got.status == 200, await got.text()
    doc = await got.json()
    assert doc["status"] == "signed" and doc["sealed"] is False
    assert doc["legacy"]["note"] == "signed before seals existed"
    findings = next(s for s in doc["sections"] if s["key"] == "findings")
    assert findings["paragraphs"] == ["Referto d'altri tempi.", "Secondo paragrafo."]
    url = f"/api/v1/documents/{doc['id']}"
    check = await (await client.post(url + "/verify", headers=headers)).json()
    assert check["legacy"] is True and check["legacy_intact"] is True and check["ok"] is False
    pdf = await client.get(url + "/pdf", headers=headers)
    assert pdf.status == 200 and (await pdf.read()).startswith(b"%PDF")
    async with world.app[keys.SESSIONS]() as session:  # tampering shows
        row = await session.get(Document, doc["id"])
        assert row is not None
        row.sections = {"findings": "forged"}
        session.add(row)
        await session.commit()
    check = await (await client.post(url + "/verify", headers=headers)).json()
    assert check["legacy_intact"] is False
    assert json.dumps(check)  # plain JSON


async def test_patient_page_drafts_a_monitoring_report(client: TestClient[Any, Any],
                                                       world: World) -> None:
    from tests.helpers.pages import csrf_of, log_in

    doctor = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    headers = await world.token(doctor["username"])
    plan_id = (await (await client.post(f"/api/v1/patients/{patient.id}/careplans",
                                        headers=headers, json=PLAN)).json())["id"]
    await client.post(f"/api/v1/careplans/{plan_id}/activate", headers=headers)
    await log_in(client, doctor["username"])
    page = await (await client.get(f"/patients/{patient.id}")).text()
    assert f'action="/patients/{patient.id}/documents"' in page and plan_id in page
    csrf = await csrf_of(client, f"/patients/{patient.id}")
    made = await client.post(f"/patients/{patient.id}/documents", allow_redirects=False,
                             data={"kind": "monitoring_report", "careplan_id": plan_id,
                                   "csrf_token": csrf})
    assert made.status == 303 and made.headers["Location"].startswith("/documents/")
    draft = await (await client.get(made.headers["Location"])).text()
    # No patient account: the page's language (English here) is the document's.
    assert 'name="section_findings"' in draft
    assert 'name="section_adherence"' in draft and "No readings." in draft
