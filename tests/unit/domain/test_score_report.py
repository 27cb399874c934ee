"""Questionnaire scores in monitoring reports: summaries and trends, in codes and numbers
(tests/unit/documents/test_score_words.py has their words)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from telemed.domain import documents as rules
from telemed.domain.questionnaires import Scored
from telemed.domain.score_report import ScoreLine, score_trend, summarize_scores

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def _phq(day: int, score: int, band: str, flags: tuple[str, ...] = ()) -> ScoreLine:
    return _line("phq9", day, score, band, flags)


def _line(code: str, day: int, score: int, band: str,
          flags: tuple[str, ...] = ()) -> ScoreLine:
    return ScoreLine(code, T0 + timedelta(days=day), Scored(score, band, flags))


def test_summary_per_questionnaire_in_catalogue_order() -> None:
    lines = [_phq(28, 14, "moderate", ("item9",)), _phq(0, 6, "mild"), _phq(14, 9, "mild"),
             _line("hf_diary", 0, 1, "stable"), _line("retired", 0, 3, "x")]
    phq, hf = summarize_scores(lines)
    assert (phq.code, phq.count, phq.first.scored.score,
            phq.last.scored.score) == ("phq9", 3, 6, 14)
    assert (phq.minimum, phq.maximum, phq.max_score, phq.flagged) == (6, 14, 27, 1)
    assert phq.trend == "worse"
    assert [p[1] for p in phq.points] == [6, 9, 14]
    assert (hf.code, hf.count, hf.trend) == ("hf_diary", 1, "single")
    data = phq.to_dict()
    assert data["loinc"] == "44261-6" and data["last"]["flags"] == ["item9"]
    assert data["last"]["at"] == (T0 + timedelta(days=28)).isoformat()
    assert hf.to_dict()["loinc"] is None
    assert summarize_scores([]) == ()


def test_trend_by_band_then_by_the_phq9_minimal_important_change() -> None:
    assert score_trend("phq9", _phq(0, 9, "mild"), _phq(1, 10, "moderate"), 2) == "worse"
    assert score_trend("phq9", _phq(0, 16, "moderately_severe"),
                       _phq(1, 8, "mild"), 2) == "better"
    assert score_trend("phq9", _phq(0, 20, "severe"), _phq(1, 27, "severe"), 2) == "worse"
    assert score_trend("phq9", _phq(0, 27, "severe"), _phq(1, 22, "severe"), 2) == "better"
    assert score_trend("phq9", _phq(0, 20, "severe"), _phq(1, 24, "severe"), 2) == "stable"
    hf = [_line("hf_diary", 0, 0, "stable"), _line("hf_diary", 0, 2, "stable")]
    assert score_trend("hf_diary", hf[0], hf[1], 2) == "stable"  # no MID: band only
    assert score_trend("phq9", _phq(0, 6, "mild"), _phq(0, 6, "mild"), 1) == "single"


def test_long_series_are_thinned_keeping_the_last() -> None:
    lines = [_line("hf_diary", d, d % 4, "stable") for d in range(95)]
    [hf] = summarize_scores(lines, max_points=10)
    assert hf.count == 95 and len(hf.points) <= 11
    assert hf.points[-1] == ((T0 + timedelta(days=94)).isoformat(), 94 % 4)


def test_monitoring_figures_carry_the_scores_and_the_domain_drafts_no_words() -> None:
    spec = rules.kind_of("monitoring_final_report")
    section = spec.section("questionnaires")
    assert section is not None and section.loinc == "51848-0"
    figures = rules.monitoring_figures(period_start=T0, period_end=T0 + timedelta(days=30),
                                       expected=0, taken=0, readings={}, alerts=[],
                                       scores=[_phq(3, 11, "moderate")])
    assert figures.to_dict()["questionnaires"][0]["last"]["score"] == 11
    # the questionnaires' section is drafted in words by telemed.documents.score_words
    assert not hasattr(rules, "monitoring_text")
    bare = rules.monitoring_figures(period_start=T0, period_end=T0, expected=0, taken=0,
                                    readings={}, alerts=[])
    assert bare.to_dict()["questionnaires"] == []
