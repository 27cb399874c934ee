"""The PDF's fixed words come from the catalogue: each has Italian, and an Italian PDF says
no English fixed word (the English PDFs show that the documents below say them all). The same
for the drafted questionnaires' section (its lines, titles, bands and trends), the other drafted
sections (a monitoring report's figures and alerts, a teleconsult's urgency and mode) and the
label groups that documents say (context "document")."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from telemed.documents.fhir import PersonInfo
from telemed.documents.pdf import render_document, render_index
from telemed.documents.score_words import scores_text
from telemed.i18n import CATALOGUE_DIR
from telemed.i18n.labels import LABELS, label
from tests.helpers.documents import (
    T0,
    doc_facts,
    every_report_word,
    every_score_word,
    pdf_text,
    score_figures,
)
from tests.helpers.paths import ROOT

KEYWORDS = {"N_": None, "NC_": ((1, "c"), 2)}


def _document_words() -> dict[str, set[str]]:
    """file → the msgids of the context "document" marked in telemed/documents."""
    found: dict[str, set[str]] = {}
    for file, _line, message, _comments, context in extract_from_dir(
            str(ROOT / "telemed" / "documents"), [("**.py", "python")], keywords=KEYWORDS):
        if context == "document":
            found.setdefault(file, set()).add(str(message))
    return found


def _label_words() -> set[str]:
    """The msgids of the labels as documents say them (context "document")."""
    return {msgid for group in LABELS.values() for context, msgid in group.values()
            if context == "document"}


def _pdfs_text(lang: str) -> str:
    """The text of documents that between them say every fixed word of the PDF."""
    specialist = PersonInfo("u2", "Dr. Carlo Verdi", "doctor")
    gp = PersonInfo("u3", "Dr. Lucia Neri", "doctor")
    series = {"spo2": [((T0 + timedelta(hours=h)).isoformat(), 94 + h % 3) for h in range(9)]}
    figures = {"metrics": [{"metric": "spo2", "unit": "%", "count": 9, "min": 94,
                            "median": 95, "max": 96}], "series": series,
               "questionnaires": score_figures()["questionnaires"]}
    monitoring = doc_facts(lang, "monitoring_final_report", figures=figures, encounter=None,
                           period=(T0 - timedelta(days=30), T0), replaces="d0",
                           sections={"readings": "r", "questionnaires": "q", "findings": "f"})
    cosigned = doc_facts(lang, "teleconsult_report", author=specialist, signer=specialist,
                         cosigner=gp, cosigned_at=T0 + timedelta(hours=2), encounter=None,
                         sections={"question": "q", "findings": "f"})
    short = {"findings": "f", "reason": "r"}
    scored = [doc_facts(lang, "monitoring_report", encounter=None, period=(T0, T0),
                        figures={"metrics": [], "series": {}, "questionnaires": summaries},
                        sections={"questionnaires": scores_text(summaries, lang)})
              for summaries in every_score_word()]
    drafted = [doc_facts(lang, kind, encounter=None, period=(T0, T0), sections=sections)
               for kind, sections in every_report_word(lang)]
    pdfs = [*(render_document(facts, status="signed") for facts in (*scored, *drafted)),
            render_document(monitoring, status="signed"),
            render_document(cosigned, status="signed"),
            render_document(cosigned, status="partially_signed"),
            render_document(doc_facts(lang, sections=short), status="draft"),
            render_document(doc_facts(lang, sections=short), status="signed",
                            legacy_hash="ab" * 32),
            render_index(organisation="ASL Demo", patient_name="Rossi Mario",
                         fiscal_code="RSSMRA50A01H501U", lang=lang, generated_at=T0,
                         rows=[("30/11/2026", "k", "t", label(lang, "document_status", s))
                               for s in LABELS["document_status"]])]
    return _hyphens(" ".join(pdf_text(pdf) for pdf in pdfs))


def _hyphens(text: str) -> str:
    """``text`` with no space around its hyphens (a narrow column breaks "co-signature",
    and pdftotext then reads "co -signature")."""
    return re.sub(r"\s*-\s*", "-", text)


def _says(text: str, part: str) -> bool:
    """Whether ``text`` has ``part`` as words of its own ("median" is not in "mediana")."""
    return re.search(rf"(?<!\w){re.escape(part)}(?!\w)", text) is not None


def _fixed_parts(msgid: str) -> list[str]:
    """The literal parts of a message template worth looking for (three letters or more)."""
    parts = (_hyphens(" ".join(p.split()).strip(" ,.:;()-"))
             for p in re.split(r"\{\w+\}", msgid))
    return [p for p in parts if sum(c.isalpha() for c in p) >= 3]


@pytest.fixture(scope="module")
def italian() -> dict[str, str]:
    """msgid → its Italian in the context "document" ("" when it has none)."""
    with (CATALOGUE_DIR / "it" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle)
    return {str(m.id): str(m.string or "") for m in catalog if m.context == "document"}


@pytest.fixture(scope="module")
def pdf_words() -> set[str]:
    found = _document_words()
    return found["pdf.py"] | found["score_words.py"] | found["report_words.py"] | _label_words()


def test_every_document_word_has_an_italian_translation(italian: dict[str, str]) -> None:
    words = set().union(*_document_words().values(), _label_words())
    assert len(words) > 25  # the PDF's and the Bundle's words are marked for the catalogue
    assert sorted(w for w in words if not italian.get(w)) == []


def test_the_english_documents_say_every_fixed_word(pdf_words: set[str]) -> None:
    text = _pdfs_text("en")
    unsaid = [part for msgid in pdf_words for part in _fixed_parts(msgid) if part not in text]
    assert unsaid == []


def test_an_italian_pdf_says_no_english_fixed_word(pdf_words: set[str],
                                                   italian: dict[str, str]) -> None:
    text = _pdfs_text("it")
    english = [part for msgid in pdf_words for part in _fixed_parts(msgid)
               if not _says(_hyphens(italian.get(msgid, "")), part)  # the same in Italian
               and _says(text, part)]
    assert english == []
    assert "Pagina 1 di 1" in text and "Assistito" in text
