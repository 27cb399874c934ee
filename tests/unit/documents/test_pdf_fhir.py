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
from telemed.documents.pdf import render_document, render_index
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


def _score_figures() -> dict[str, object]:
    from telemed.domain.score_report import ScoreLine, summarize_scores

    lines = [ScoreLine("phq9", T0 - timedelta(days=d), s, b)
             for d, s, b in ((28, 6, "mild"), (14, 9, "mild"), (0, 13, "moderate"))]
    lines.append(ScoreLine("hf_diary", T0, 2, "stable"))
    return {"metrics": [], "series": {},
            "questionnaires": [s.to_dict() for s in summarize_scores(lines)]}


def test_questionnaire_scores_in_the_pdf_table_and_the_bundle() -> None:
    from telemed.documents.pdf import _scores

    figures = _score_figures()
    table, _, chart = _scores(figures["questionnaires"], "it")  # type: ignore[arg-type]
    assert table._cellvalues == [
        ["Questionario", "N.", "Ultima", "Punteggio", "Fascia", "Andamento"],
        ["Umore (PHQ-9)", "3", "30/11/2026", "13/27", "moderata", "in peggioramento"],
        ["Diario dello scompenso cardiaco", "1", "30/11/2026", "2/9", "stabile",
         "una sola risposta"]]
    assert chart.width > 0  # PHQ-9 answered three times: a chart; the diary once: none
    facts = _facts("it", "monitoring_final_report", figures=figures, encounter=None,
                   period=(T0 - timedelta(days=30), T0),
                   sections={"questionnaires": "Umore (PHQ-9): 3 risposte",
                             "findings": "Stabile."})
    assert len(render_document(facts, status="draft")) > len(render_document(
        _facts("it", "monitoring_final_report", encounter=None, sections=facts.sections),
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
