"""The PDF (patient's language, pages, embedded fonts) and the Bundle built from the same facts."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

from pyhanko.pdf_utils.reader import PdfFileReader

from telemed.documents.fhir import (
    DocumentFacts,
    EncounterInfo,
    PatientInfo,
    PersonInfo,
    as_transaction,
    build_bundle,
)
from telemed.documents.pdf import render_document, render_index, signature_line
from telemed.domain.documents import kind_of
from tests.unit.fhir.validation import validate

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _facts(lang: str, kind: str = "televisit_report", **more: object) -> DocumentFacts:
    values: dict[str, object] = dict(
        id="d1", spec=kind_of(kind), title="Referto di Televisita", language=lang,
        patient=PatientInfo("p1", "RSSMRA50A01H501U", "Mario", "Rossi", date(1950, 1, 1),
                            "male"),
        author=PersonInfo("u1", "Dr. Anna Bianchi", "doctor"),
        signer=PersonInfo("u1", "Dr. Anna Bianchi", "doctor"), organisation="ASL Demo",
        sections={"findings": "Primo.\n\nSecondo " + "lungo " * 900, "reason": "Controllo"},
        signed_at=T0, encounter=EncounterInfo("v1", "completed", T0, T0 + timedelta(minutes=20)))
    values.update(more)
    return DocumentFacts(**values)  # type: ignore[arg-type]


def _reader(pdf: bytes) -> PdfFileReader:
    return PdfFileReader(io.BytesIO(pdf))


def test_pdf_in_the_patients_language_with_pages() -> None:
    for lang in ("it", "en"):
        reader = _reader(render_document(_facts(lang), status="signed"))
        assert str(reader.root["/Lang"]) == lang
        assert int(reader.root["/Pages"]["/Count"]) >= 2  # the long text runs over
        fonts = reader.root["/Pages"]["/Kids"][0]["/Resources"]["/Font"]
        embedded = [fonts[n] for n in fonts if str(fonts[n]["/Subtype"]) == "/TrueType"]
        assert embedded and "/FontFile2" in embedded[0]["/FontDescriptor"]  # embedded

def test_monitoring_pdf_has_charts_and_index_renders() -> None:
    series = {"spo2": [((T0 + timedelta(hours=h)).isoformat(), 94 + h % 3) for h in range(30)]}
    figures = {"metrics": [{"metric": "spo2", "unit": "%", "count": 30, "min": 94,
                            "median": 95, "max": 96}], "series": series}
    facts = _facts("it", "monitoring_report", figures=figures, encounter=None,
                   period=(T0 - timedelta(days=30), T0),
                   sections={"readings": "spo2: n=30", "findings": "Stabile."})
    with_chart = render_document(facts, status="draft")
    without = render_document(_facts("it", "monitoring_report", encounter=None,
                                     sections={"readings": "spo2: n=30"}), status="draft")
    assert len(with_chart) > len(without)
    bundle = build_bundle(facts)
    validate(bundle)
    [obs] = [e["resource"] for e in bundle["entry"]
             if e["resource"]["resourceType"] == "Observation"]
    assert obs["code"]["coding"][0]["code"] == "2708-6"
    assert obs["valueQuantity"]["value"] == 95.0
    index = render_index(organisation="ASL Demo", patient_name="Rossi Mario",
                         fiscal_code="RSSMRA50A01H501U", lang="en",
                         rows=[("30/11/2026", "Televisit report", "Referto", "signed")],
                         generated_at=T0)
    assert str(_reader(index).root["/Lang"]) == "en"


def test_bundle_and_transaction_shapes() -> None:
    bundle = build_bundle(_facts("it", replaces="d0"))
    validate(bundle)
    composition = bundle["entry"][0]["resource"]
    assert composition["relatesTo"][0]["code"] == "replaces"
    assert composition["attester"][0]["mode"] == "legal"
    narrative = next(s for s in composition["section"]
                     if s["code"]["coding"][0]["code"] == "47045-0")["text"]["div"]
    assert narrative.count("<p>") == 2  # the paragraphs are kept
    transaction = as_transaction(bundle)
    validate(transaction)
    assert [e["request"]["ifNoneExist"].split("|")[0] for e in transaction["entry"]] == \
        ["identifier=urn:ietf:rfc:3986"] * 2


def test_a_co_signed_report_names_both_signers() -> None:
    specialist = PersonInfo("u2", "Dr. Carlo Verdi", "doctor")
    gp = PersonInfo("u3", "Dr. Lucia Neri", "doctor")
    facts = _facts("it", "teleconsult_report", title="Relazione di teleconsulto",
                   author=specialist, signer=specialist, cosigner=gp,
                   cosigned_at=T0 + timedelta(hours=2), encounter=None,
                   sections={"question": "Ecocardio?", "findings": "Entro 7 giorni."})
    bundle = build_bundle(facts)
    validate(bundle)
    composition = bundle["entry"][0]["resource"]
    practitioners = {e["fullUrl"]: e["resource"] for e in bundle["entry"]
                     if e["resource"]["resourceType"] == "Practitioner"}
    assert [(a["mode"], practitioners[a["party"]["reference"]]["id"], a["time"])
            for a in composition["attester"]] == [
        ("legal", "u2", "2026-11-30T09:00:00+00:00"),
        ("professional", "u3", "2026-11-30T11:00:00+00:00")]
    assert composition["date"] == bundle["timestamp"] == "2026-11-30T11:00:00+00:00"
    assert len(practitioners) == 2  # the author is not repeated as a signer
    assert signature_line(facts, status="signed", lang="it") == (
        "Firmato da Dr. Carlo Verdi il 30/11/2026 09:00 e controfirmato da Dr. Lucia Neri il "
        "30/11/2026 11:00, con il sigillo elettronico di ASL Demo.")
    awaiting = _facts("en", "teleconsult_report", author=specialist, signer=specialist,
                      encounter=None, sections={"question": "Q", "findings": "F"})
    assert signature_line(awaiting, status="partially_signed", lang="en") == ""
    for status, fact in (("signed", facts), ("partially_signed", awaiting)):
        assert render_document(fact, status=status).startswith(b"%PDF")
