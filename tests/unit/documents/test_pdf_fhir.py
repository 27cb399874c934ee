"""The PDF (patient's language, pages, embedded fonts) and the Bundle built from the same facts."""

from __future__ import annotations

import io
from datetime import timedelta

from pyhanko.pdf_utils.reader import PdfFileReader

from telemed.documents.fhir import PersonInfo, as_transaction, build_bundle
from telemed.documents.pdf import render_document, render_index, signature_line
from tests.helpers.documents import T0, doc_facts, score_figures
from tests.unit.fhir.validation import validate


def _reader(pdf: bytes) -> PdfFileReader:
    return PdfFileReader(io.BytesIO(pdf))


def test_pdf_in_the_patients_language_with_pages() -> None:
    for lang in ("it", "en"):
        reader = _reader(render_document(doc_facts(lang), status="signed"))
        assert str(reader.root["/Lang"]) == lang
        assert int(reader.root["/Pages"]["/Count"]) >= 2  # the long text runs over
        fonts = reader.root["/Pages"]["/Kids"][0]["/Resources"]["/Font"]
        embedded = [fonts[n] for n in fonts if str(fonts[n]["/Subtype"]) == "/TrueType"]
        assert embedded and "/FontFile2" in embedded[0]["/FontDescriptor"]  # embedded

def test_monitoring_pdf_has_charts_and_index_renders() -> None:
    series = {"spo2": [((T0 + timedelta(hours=h)).isoformat(), 94 + h % 3) for h in range(30)]}
    figures = {"metrics": [{"metric": "spo2", "unit": "%", "count": 30, "min": 94,
                            "median": 95, "max": 96}], "series": series}
    facts = doc_facts("it", "monitoring_report", figures=figures, encounter=None,
                   period=(T0 - timedelta(days=30), T0),
                   sections={"readings": "spo2: n=30", "findings": "Stabile."})
    with_chart = render_document(facts, status="draft")
    without = render_document(doc_facts("it", "monitoring_report", encounter=None,
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
    bundle = build_bundle(doc_facts("it", replaces="d0"))
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


def test_questionnaire_scores_in_the_pdf_table_and_the_bundle() -> None:
    from telemed.documents.pdf import _scores

    figures = score_figures()
    table, _, chart = _scores(figures["questionnaires"], "it")  # type: ignore[arg-type]
    assert table._cellvalues == [
        ["Questionario", "N.", "Ultima", "Punteggio", "Fascia", "Andamento"],
        ["Umore (PHQ-9)", "3", "30/11/2026", "13/27", "moderata", "in peggioramento"],
        ["Diario dello scompenso cardiaco", "1", "30/11/2026", "2/9", "stabile",
         "una sola risposta"]]
    assert chart.width > 0  # PHQ-9 answered three times: a chart; the diary once: none
    facts = doc_facts("it", "monitoring_final_report", figures=figures, encounter=None,
                   period=(T0 - timedelta(days=30), T0),
                   sections={"questionnaires": "Umore (PHQ-9): 3 risposte",
                             "findings": "Stabile."})
    assert len(render_document(facts, status="draft")) > len(render_document(
        doc_facts("it", "monitoring_final_report", encounter=None, sections=facts.sections),
        status="draft"))
    bundle = build_bundle(facts)
    validate(bundle)
    by_url = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    [section] = [s for s in bundle["entry"][0]["resource"]["section"]
                 if s["code"]["coding"][0]["code"] == "51848-0"]
    phq, hf = (by_url[e["reference"]] for e in section["entry"])
    assert phq["code"]["coding"][0] == {
        "system": "http://loinc.org", "code": "44261-6",
        "display": "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]"}
    assert (phq["valueInteger"], phq["interpretation"][0]["text"]) == (13, "moderata")
    assert phq["effectiveDateTime"] == T0.isoformat()
    assert "andamento: in peggioramento" in phq["note"][0]["text"]
    assert hf["code"]["coding"][0] == {"system": "urn:telemed:questionnaire",
                                       "code": "hf_diary-total"}
    assert {c["code"] for c in phq["category"][0]["coding"]} == {"survey"}


def test_readings_table_names_metrics_in_the_documents_language() -> None:
    from telemed.documents.pdf import _figures

    figures = {"metrics": [{"metric": "spo2", "unit": "%", "count": 2, "min": 94,
                            "median": 95, "max": 96}], "series": {}}
    italian = _figures(figures, "it")[0]._cellvalues
    assert italian[1][0] == "Saturazione di ossigeno (SpO2)"
    assert _figures(figures, "en")[0]._cellvalues[1][0] == "Oxygen saturation"


def test_a_co_signed_report_names_both_signers() -> None:
    specialist = PersonInfo("u2", "Dr. Carlo Verdi", "doctor")
    gp = PersonInfo("u3", "Dr. Lucia Neri", "doctor")
    facts = doc_facts("it", "teleconsult_report", title="Relazione di teleconsulto",
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
    # the Bundle keeps UTC instants; the signature line is in the service's zone (Rome, +01:00)
    assert signature_line(facts, status="signed", lang="it") == (
        "Firmato da Dr. Carlo Verdi il 30/11/2026 10:00 e controfirmato da Dr. Lucia Neri il "
        "30/11/2026 12:00, con il sigillo elettronico di ASL Demo.")
    awaiting = doc_facts("en", "teleconsult_report", author=specialist, signer=specialist,
                      encounter=None, sections={"question": "Q", "findings": "F"})
    assert signature_line(awaiting, status="partially_signed", lang="en") == ""
    for status, fact in (("signed", facts), ("partially_signed", awaiting)):
        assert render_document(fact, status=status).startswith(b"%PDF")
