"""A monitoring report's questionnaire scores in words: the drafted lines in both languages,
every questionnaire, band and trend of the domain with its words, Italian ones included, and
the seal's reason in the document's language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from telemed.documents.score_words import band_word, scores_text
from telemed.documents.signing import seal_reason
from telemed.domain.documents import KINDS
from telemed.domain.questionnaires import CATALOGUE, Scored
from telemed.domain.score_report import TRENDS, ScoreLine, summarize_scores
from telemed.i18n.labels import LABELS, label

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def _line(code: str, day: int, score: int, band: str,
          flags: tuple[str, ...] = ()) -> ScoreLine:
    return ScoreLine(code, T0 + timedelta(days=day), Scored(score, band, flags))


def test_text_in_both_languages() -> None:
    summaries = [s.to_dict() for s in summarize_scores(
        [_line("phq9", 0, 6, "mild"), _line("phq9", 14, 14, "moderate", ("item9",)),
         _line("copd_diary", 0, 0, "none"), _line("hypo_diary", 0, 0, "none")])]
    assert scores_text(summaries, "it").splitlines() == [
        "Umore (PHQ-9): 2 risposte; ultima 15/11/2026: 14/27, moderata (prima 6, min 6, "
        "max 14); andamento: in peggioramento; risposte con un segnale d'allarme: 1",
        "Diario della BPCO: 1 risposta; ultima 01/11/2026: 0/3, nessuna riacutizzazione",
        "Diario delle ipoglicemie: 1 risposta; ultima 01/11/2026: 0/6, nessun sintomo"]
    assert scores_text(summaries, "en").splitlines() == [
        "Mood (PHQ-9): 2 responses; last 2026-11-15: 14/27, moderate (first 6, min 6, "
        "max 14); trend: worsening; responses with a warning sign: 1",
        "COPD diary: 1 response; last 2026-11-01: 0/3, no exacerbation",
        "Low blood sugar diary: 1 response; last 2026-11-01: 0/6, no symptoms"]
    assert scores_text([], "it") == ""


def test_a_code_without_words_is_shown_as_it_is() -> None:
    assert band_word("it", "phq9", "unheard_of") == "unheard_of"
    assert band_word("en", "phq9", "none") == "none"  # the PHQ-9 has no band "none"
    assert label("it", "score_questionnaire", "retired") == "retired"


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_every_questionnaire_and_band_has_its_words_in_both_languages(code: str) -> None:
    """The English title is the questionnaire's own; the Italian words exist and are not
    the English ones (a missing translation would leave English in an Italian report)."""
    questionnaire = CATALOGUE[code]
    assert LABELS["score_questionnaire"][code] == ("document", questionnaire.title)
    assert label("en", "score_questionnaire", code) == questionnaire.title
    assert label("it", "score_questionnaire", code) != questionnaire.title
    for band in questionnaire.bands:
        found = (LABELS["score_band_none"] if band == "none" else LABELS["score_band"]).get(
            code if band == "none" else band)
        assert found is not None, (code, band)
        assert band_word("en", code, band) == found[1]
        assert band_word("it", code, band) not in (found[1], band), (code, band)


def test_every_trend_has_its_words_in_both_languages() -> None:
    assert set(LABELS["score_trend"]) == set(TRENDS)
    italian = [label("it", "score_trend", t) for t in TRENDS]
    english = [label("en", "score_trend", t) for t in TRENDS]
    assert english == ["one response only", "improving", "stable", "worsening"]
    assert italian == ["una sola risposta", "in miglioramento", "stabile", "in peggioramento"]


def test_the_seal_reason_is_in_the_documents_language() -> None:
    report = KINDS["televisit_report"]
    assert seal_reason(report, "it", "A, B") == "Referto di Televisita - firmato da A, B"
    assert seal_reason(report, "en", "A, B") == "Televisit report - signed by A, B"
