"""Clinical documents through the API: the referto from draft to seal, its PDF and Bundle
verified, every refusal leaving the document as it was, and who may see what."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pyhanko.pdf_utils.reader import PdfFileReader
from sqlmodel import select

from telemed import keys
from telemed.db.models import AuditEvent, Document, Notification
from telemed.services import visits as visit_service
from tests.conftest import PASSWORD, World
from tests.helpers.documents import pdf_text
from tests.helpers.node_fhir import medplum_validate, node_or_skip
from tests.integration.visit_helpers import VisitSetup, make_visit
from tests.unit.fhir.validation import validate

FINDINGS = ("Paziente stabile, pressione nei limiti.\n\n"
            "Proseguire la terapia in atto.\nControllo tra 3 mesi.")


async def _held_visit(world: World) -> VisitSetup:
    setup = await make_visit(world)
    async with world.app[keys.SESSIONS]() as session:
        await visit_service.advance(session, setup.visit_id, "in_progress")
    return setup


async def _row(world: World, doc_id: str) -> Document:
    async with world.app[keys.SESSIONS]() as session:
        doc = await session.get(Document, doc_id)
        assert doc is not None
        return doc


async def _referto(client: TestClient[Any, Any], world: World
                   ) -> tuple[VisitSetup, dict[str, str], dict[str, str], dict[str, Any]]:
    """A held visit, the doctor's and the patient's headers, and a draft referto."""
    setup = await _held_visit(world)
    doctor = setup.headers[setup.doctor["username"]]
    patient = setup.headers[setup.patient_user["username"]]
    return setup, doctor, patient, await _draft(client, setup)


async def _draft(client: TestClient[Any, Any], setup: VisitSetup) -> dict[str, Any]:
    resp = await client.post(f"/api/v1/visits/{setup.visit_id}/report",
                             headers=setup.headers[setup.doctor["username"]],
                             json={"sections": {"reason": "Controllo scompenso",
                                                "findings": FINDINGS}})
    assert resp.status == 201, await resp.text()
    doc: dict[str, Any] = await resp.json()
    return doc


@pytest.mark.parametrize(("language", "title", "signed"), [
    ("it", "Referto di Televisita", "firmato da"), ("en", "Televisit report", "signed by")])
async def test_the_referto_is_titled_in_the_patients_language(
        client: TestClient[Any, Any], world: World, language: str, title: str,
        signed: str) -> None:
    """Its title, the PDF's heading and the seal's reason in the document's language (a
    patient without a language of their own: the caller's); the Bundle's type keeps HL7
    Italia's Italian name."""
    setup = await _held_visit(world)
    doctor = {**setup.headers[setup.doctor["username"]], "Accept-Language": language}
    resp = await client.post(f"/api/v1/visits/{setup.visit_id}/report", headers=doctor,
                             json={"sections": {"findings": FINDINGS}})
    doc = await resp.json()
    assert (doc["language"], doc["title"]) == (language, title)
    url = f"/api/v1/documents/{doc['id']}"
    assert (await client.post(url + "/sign", headers=doctor,
                              json={"password": PASSWORD})).status == 200
    pdf = await (await client.get(url + "/pdf", headers=doctor)).read()
    text = pdf_text(pdf)
    assert f" {title} {title} " in text  # the running title, then the heading
    assert ("Referto" in text) is (language == "it")
    [seal] = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    name = setup.doctor["username"].title()
    assert str(seal.sig_object["/Reason"]) == f"{title} - {signed} {name}"
    bundle = await (await client.get(url + "/fhir", headers=doctor)).json()
    composition = bundle["entry"][0]["resource"]
    assert (composition["title"], composition["type"]["text"]) == (
        title, "Referto di Televisita")


async def test_referto_draft_edit_sign_and_verify(client: TestClient[Any, Any],
                                                  world: World) -> None:
    setup, doctor, patient, doc = await _referto(client, world)
    assert doc["kind"] == "televisit_report" and doc["status"] == "draft"
    findings = next(s for s in doc["sections"] if s["key"] == "findings")
    assert findings["paragraphs"] == ["Paziente stabile, pressione nei limiti.",
                                      "Proseguire la terapia in atto.\nControllo tra 3 mesi."]
    url = f"/api/v1/documents/{doc['id']}"
    # The patient does not see the draft, nor in the list.
    assert (await client.get(url, headers=patient)).status == 404
    listed = await (await client.get(f"/api/v1/patients/{setup.patient_id}/documents",
                                     headers=patient)).json()
    assert listed["items"] == []
    edited = await client.patch(url, headers=doctor,
                                json={"sections": {"conclusions": "Quadro compensato."}})
    assert edited.status == 200
    # A wrong password signs nothing.
    wrong = await client.post(url + "/sign", headers=doctor, json={"password": "nope"})
    assert wrong.status == 403 and (await wrong.json())["error"]["code"] == "password_wrong"
    assert (await _row(world, doc["id"])).status == "draft"
    signed = await client.post(url + "/sign", headers=doctor, json={"password": PASSWORD})
    assert signed.status == 200, await signed.text()
    body = await signed.json()
    assert body["status"] == "signed" and body["signed_by"] == setup.doctor["id"]
    assert body["sealed"] is True
    # The visit is completed; the audit names the signer; the patient is notified.
    visit = await (await client.get(f"/api/v1/visits/{setup.visit_id}", headers=doctor)).json()
    assert visit["status"] == "completed"
    async with world.app[keys.SESSIONS]() as session:
        lines = [e for e in (await session.exec(select(AuditEvent).where(
            AuditEvent.resource_id == doc["id"]))).all()
            if (e.reason_code, e.reason_params) == ("document_signed",
                                                    {"user": setup.doctor["username"]})]
        notes = (await session.exec(select(Notification).where(
            Notification.cause_id == doc["id"]))).all()
    assert len(lines) == 1 and lines[0].actor_id == setup.doctor["id"]
    assert [n.user_id for n in notes] == [setup.patient_user["id"]]
    assert notes[0].kind == "document_available"
    # The FHIR document Bundle: Composition first, LOINC 75496-0, valid for fhir.resources.
    fhir = await client.get(url + "/fhir", headers=patient)
    assert fhir.status == 200 and fhir.content_type == "application/fhir+json"
    bundle = await fhir.json()
    validate(bundle)
    composition = bundle["entry"][0]["resource"]
    assert composition["resourceType"] == "Composition"
    assert composition["type"]["coding"][0]["code"] == "75496-0"
    assert [s["code"]["coding"][0]["code"] for s in composition["section"]] == \
        ["29299-5", "47045-0", "55110-1"]
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert {"Patient", "Practitioner", "Encounter", "Organization"} <= kinds
    assert bundle["signature"]["sigFormat"] == "application/jose"
    # The PDF is PAdES-signed; the stored document verifies.
    pdf = await client.get(url + "/pdf", headers=patient)
    assert pdf.status == 200 and pdf.content_type == "application/pdf"
    pdf_bytes = await pdf.read()
    assert pdf_bytes.startswith(b"%PDF") and b"/ETSI.CAdES.detached" in pdf_bytes
    verified = await (await client.post(url + "/verify", headers=patient)).json()
    assert verified["ok"] is True
    assert verified["pdf"]["signed_by"] == setup.doctor["username"].title()
    assert "Telemed demo seal" in verified["bundle"]["seal"]
    # A file sent back: intact as downloaded; one flipped byte fails.
    same = await (await client.post(url + "/verify", headers=patient, data=pdf_bytes)).json()
    assert same["ok"] is True and same["file"]["format"] == "pdf"
    at = len(pdf_bytes) // 4  # inside the rendered document, before the signature
    flipped = pdf_bytes[:at] + bytes([pdf_bytes[at] ^ 0x01]) + pdf_bytes[at + 1:]
    bad = await (await client.post(url + "/verify", headers=patient, data=flipped)).json()
    assert bad["ok"] is False and bad["file"]["intact"] is False
    forged = json.dumps({**bundle, "type": "collection"}).encode()
    bad_bundle = await (await client.post(url + "/verify", headers=patient,
                                          data=forged)).json()
    assert bad_bundle["ok"] is False and bad_bundle["file"]["format"] == "bundle"
    # The patient now sees it, and the index PDF lists it.
    listed = await (await client.get(f"/api/v1/patients/{setup.patient_id}/documents",
                                     headers=patient)).json()
    assert [d["id"] for d in listed["items"]] == [doc["id"]]
    index = await client.get(f"/api/v1/patients/{setup.patient_id}/documents/index.pdf",
                             headers=patient)
    assert index.status == 200 and (await index.read()).startswith(b"%PDF")


async def test_signed_documents_never_change(client: TestClient[Any, Any],
                                             world: World) -> None:
    setup = await _held_visit(world)
    doctor = setup.headers[setup.doctor["username"]]
    doc = await _draft(client, setup)
    url = f"/api/v1/documents/{doc['id']}"
    assert (await client.post(url + "/sign", headers=doctor,
                              json={"password": PASSWORD})).status == 200
    before = await _row(world, doc["id"])
    twice = await client.post(url + "/sign", headers=doctor, json={"password": PASSWORD})
    assert twice.status == 409 and (await twice.json())["error"]["code"] == "already_signed"
    edit = await client.patch(url, headers=doctor, json={"sections": {"findings": "altro"}})
    assert edit.status == 409 and (await edit.json())["error"]["code"] == "document_signed"
    again = await client.post(f"/api/v1/visits/{setup.visit_id}/report", headers=doctor,
                              json={"text": "secondo referto"})
    assert again.status == 409 and (await again.json())["error"]["code"] == "report_exists"
    after = await _row(world, doc["id"])
    assert (after.sections, after.bundle, after.pdf, after.signed_at) == \
        (before.sections, before.bundle, before.pdf, before.signed_at)
    # A correction replaces it once signed, and says so in its Composition.
    repl = await client.post(url + "/replace", headers=doctor)
    assert repl.status == 201
    new = await repl.json()
    assert new["replaces"] == doc["id"] and new["status"] == "draft"
    pending = await client.post(url + "/replace", headers=doctor)
    assert pending.status == 409
    await client.patch(f"/api/v1/documents/{new['id']}", headers=doctor,
                       json={"sections": {"findings": "Referto corretto."}})
    signed = await client.post(f"/api/v1/documents/{new['id']}/sign", headers=doctor,
                               json={"password": PASSWORD})
    assert signed.status == 200, await signed.text()
    assert (await _row(world, doc["id"])).status == "replaced"
    bundle = json.loads((await _row(world, new["id"])).bundle or "{}")
    validate(bundle)
    relates = bundle["entry"][0]["resource"]["relatesTo"][0]
    assert relates["code"] == "replaces"
    # A replaced document cannot be replaced again.
    stale = await client.post(url + "/replace", headers=doctor)
    assert stale.status == 409 and (await stale.json())["error"]["code"] == \
        "replacement_not_signed"


async def test_someone_elses_draft(client: TestClient[Any, Any], world: World) -> None:
    setup = await make_visit(world, clinicians=2)
    async with world.app[keys.SESSIONS]() as session:
        await visit_service.advance(session, setup.visit_id, "in_progress")
    doc = await _draft(client, setup)
    colleague = setup.headers[setup.doctors[1]["username"]]
    url = f"/api/v1/documents/{doc['id']}"
    sign = await client.post(url + "/sign", headers=colleague, json={"password": PASSWORD})
    assert sign.status == 403 and (await sign.json())["error"]["code"] == "not_author"
    edit = await client.patch(url, headers=colleague, json={"sections": {"findings": "x"}})
    assert edit.status == 403
    row = await _row(world, doc["id"])
    assert row.status == "draft" and row.sections["findings"] == FINDINGS


async def test_access_to_documents(client: TestClient[Any, Any], world: World) -> None:
    setup = await _held_visit(world)
    doctor = setup.headers[setup.doctor["username"]]
    doc = await _draft(client, setup)
    url = f"/api/v1/documents/{doc['id']}"
    await client.post(url + "/sign", headers=doctor, json={"password": PASSWORD})
    other_patient = await world.patient()
    stranger = await world.user("patient", patient_id=other_patient.id)
    outsider = await world.user("doctor")
    admin = await world.user("admin")
    not_delegate = await world.user("patient")
    for person in (stranger, outsider, admin, not_delegate):
        headers = await world.token(person["username"])
        for path in (url, url + "/pdf", url + "/fhir",
                     f"/api/v1/patients/{setup.patient_id}/documents",
                     f"/api/v1/patients/{setup.patient_id}/documents/index.pdf"):
            resp = await client.get(path, headers=headers)
            assert resp.status == 403, (person["role"], path, resp.status)
        assert (await client.post(url + "/verify", headers=headers)).status == 403
        assert (await client.post(url + "/replace", headers=headers)).status == 403
    # A delegate of the patient reads the signed document.
    delegate = await world.user("patient")
    async with world.app[keys.SESSIONS]() as session:
        from telemed.db.models import Delegation

        session.add(Delegation(patient_id=setup.patient_id, delegate_id=delegate["id"],
                               relationship="caregiver", granted_by=setup.patient_user["id"]))
        await session.commit()
    delegated = await world.token(delegate["username"])
    assert (await client.get(url, headers=delegated)).status == 200
    assert (await client.post(url + "/replace", headers=delegated)).status == 403


async def test_bad_document_input(client: TestClient[Any, Any], world: World) -> None:
    setup = await _held_visit(world)
    doctor = setup.headers[setup.doctor["username"]]
    doc = await _draft(client, setup)
    url = f"/api/v1/documents/{doc['id']}"
    unknown = await client.patch(url, headers=doctor, json={"sections": {"nonsense": "x"}})
    assert unknown.status == 422
    assert "sections.nonsense" in (await unknown.json())["error"]["fields"]
    extra = await client.patch(url, headers=doctor, json={"sections": {}, "status": "signed"})
    assert extra.status == 422
    emptied = await client.patch(url, headers=doctor, json={"sections": {"findings": " "}})
    assert emptied.status == 200
    missing = await client.post(url + "/sign", headers=doctor, json={"password": PASSWORD})
    assert missing.status == 422 and (await missing.json())["error"]["code"] == \
        "sections_missing"
    assert (await _row(world, doc["id"])).status == "draft"
    assert (await client.get("/api/v1/documents/nope", headers=doctor)).status == 404
    draft_verify = await client.post(url + "/verify", headers=doctor)
    assert draft_verify.status == 409
    assert (await client.get(url + "/fhir", headers=doctor)).status == 409


async def test_fhir_document_reference_and_bundle(client: TestClient[Any, Any],
                                                  world: World) -> None:
    setup, doctor, patient, doc = await _referto(client, world)
    base = f"/fhir/R4/DocumentReference?patient={setup.patient_id}"
    empty = await (await client.get(base, headers=doctor)).json()
    assert empty.get("entry", []) == []  # a draft is not published
    await client.post(f"/api/v1/documents/{doc['id']}/sign", headers=doctor,
                      json={"password": PASSWORD})
    found = await client.get(base, headers=patient)
    assert found.status == 200
    searchset = await found.json()
    validate(searchset)
    [entry] = searchset["entry"]
    reference = entry["resource"]
    assert reference["id"] == doc["id"] and reference["status"] == "current"
    assert reference["type"]["coding"][0]["code"] == "75496-0"
    for query, count in (("&type=http://loinc.org|75496-0", 1), ("&type=53576-5", 0),
                         ("&date=ge2020-01-01", 1), ("&date=lt2020-01-01", 0)):
        page = await (await client.get(base + query, headers=doctor)).json()
        assert len(page.get("entry", [])) == count, query
    bundle = await client.get(f"/fhir/R4/Bundle/{doc['id']}", headers=patient)
    assert bundle.status == 200
    stored = await (await client.get(f"/api/v1/documents/{doc['id']}/fhir",
                                     headers=patient)).json()
    assert await bundle.json() == stored
    outsider = await world.token((await world.user("doctor"))["username"])
    assert (await client.get(f"/fhir/R4/Bundle/{doc['id']}", headers=outsider)).status == 403
    assert (await client.get(base, headers=outsider)).status == 403


async def test_second_validator_accepts_the_signed_documents(client: TestClient[Any, Any],
                                                             world: World) -> None:
    """@medplum/core (run by Node) judges the same Bundle and DocumentReference."""
    node_or_skip()
    setup = await _held_visit(world)
    doctor = setup.headers[setup.doctor["username"]]
    doc = await _draft(client, setup)
    await client.post(f"/api/v1/documents/{doc['id']}/sign", headers=doctor,
                      json={"password": PASSWORD})
    bundle = await (await client.get(f"/api/v1/documents/{doc['id']}/fhir",
                                     headers=doctor)).json()
    reference = await (await client.get(f"/fhir/R4/DocumentReference/{doc['id']}",
                                        headers=doctor)).json()
    broken = json.loads(json.dumps(bundle))
    del broken["entry"][0]["resource"]["type"]
    verdicts = medplum_validate(bundle, reference, broken)
    assert verdicts[0]["ok"] is True, verdicts[0]["issues"]
    assert verdicts[1]["ok"] is True, verdicts[1]["issues"]
    assert verdicts[2]["ok"] is False  # the judge is not lenient: a Composition needs a type
