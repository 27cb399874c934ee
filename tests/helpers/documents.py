"""Document facts and figures for the PDF and Bundle tests (no database)."""

from __future__ import annotations

import subprocess
from datetime import UTC, date, datetime, timedelta

from telemed.documents.fhir import DocumentFacts, EncounterInfo, PatientInfo, PersonInfo
from telemed.documents.report_words import monitoring_text, teleconsult_report_text
from telemed.domain.documents import AlertLine, kind_of, monitoring_figures, teleconsult_draft
from telemed.domain.questionnaires import CATALOGUE, Scored
from telemed.domain.score_report import ScoreLine, summarize_scores
from telemed.domain.teleconsults import MODES, URGENCIES

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def doc_facts(lang: str, kind: str = "televisit_report", **more: object) -> DocumentFacts:
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


def score_figures() -> dict[str, object]:
    lines = [ScoreLine("phq9", T0 - timedelta(days=d), Scored(s, b))
             for d, s, b in ((28, 6, "mild"), (14, 9, "mild"), (0, 13, "moderate"))]
    lines.append(ScoreLine("hf_diary", T0, Scored(2, "stable")))
    return {"metrics": [], "series": {},
            "questionnaires": [s.to_dict() for s in summarize_scores(lines)]}


def every_score_word() -> list[list[dict[str, object]]]:
    """Sets of questionnaire summaries (a report's ``figures.questionnaires`` each) that between
    them end on every band of every questionnaire and show every trend and a warning flag."""
    sets = []
    for i in range(max(len(q.bands) for q in CATALOGUE.values())):  # one response: single
        lines = [ScoreLine(code, T0, Scored(i, q.bands[min(i, len(q.bands) - 1)]))
                 for code, q in CATALOGUE.items()]
        sets.append([s.to_dict() for s in summarize_scores(lines)])
    moves = {"phq9": ("mild", "moderate"), "hf_diary": ("worse", "stable"),
             "copd_diary": ("none", "none")}  # worse, better, stable
    lines = [ScoreLine(code, T0 - timedelta(days=day), Scored(day, band, ("flag",) * day))
             for code, bands in moves.items() for day, band in ((1, bands[0]), (0, bands[1]))]
    sets.append([s.to_dict() for s in summarize_scores(lines)])
    return sets


def every_report_word(lang: str) -> list[tuple[str, dict[str, str]]]:
    """(kind, drafted sections) of reports that between them say every word of
    `telemed.documents.report_words` in ``lang``: a monitoring report with its adherence,
    readings and an alert handled and one not, one with nothing in its period, and a
    teleconsult report of every urgency and mode, citing studies or not."""
    alerts = [AlertLine("threshold", "spo2", "critical", T0, "resolved",
                        T0 + timedelta(minutes=12), "Chiamato"),
              AlertLine("missed_measurement", None, "warning", T0, "open", None, None)]
    full = monitoring_figures(period_start=T0, period_end=T0, expected=60, taken=45,
                              readings={"spo2": ("%", [91.0, 95.0])}, alerts=alerts)
    bare = monitoring_figures(period_start=T0, period_end=T0, expected=0, taken=0,
                              readings={}, alerts=[])
    drafts = [("monitoring_report", monitoring_text(figures, lang)) for figures in (full, bare)]
    for i, (urgency, mode) in enumerate((u, m) for u in URGENCIES for m in MODES):
        draft = teleconsult_draft(question="Q", urgency=urgency, mode=mode,
                                  cited=["ecg.pdf"] * (i % 2), answer="A")
        drafts.append(("teleconsult_report", teleconsult_report_text(draft, lang)))
    return drafts


def pdf_text(pdf: bytes) -> str:
    """The text of a PDF (poppler's pdftotext), its lines joined by single spaces."""
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", "-", "-"], input=pdf,
                         capture_output=True, check=True, timeout=60).stdout
    return " ".join(out.decode().split())
