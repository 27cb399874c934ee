"""Questionnaire scores in a monitoring report: one summary per questionnaire answered in
the period (count, first and last score, range, band, trend), pure and clock-free.

The trend compares the last response of the period with the first: ``worse`` or ``better``
when the band moved (`telemed.domain.questionnaires.band_rank`), or, for the PHQ-9, when the
score moved by its minimal clinically important difference of 5 points (Löwe et al., Med
Care 2004) within one band; ``stable`` otherwise; ``single`` with one response only. Every
score of the catalogue grows with the symptoms, so a higher score is worse.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, Final, Literal

from telemed.domain.local_time import day_text
from telemed.domain.questionnaires import CATALOGUE, Scored, band_rank

Trend = Literal["single", "better", "stable", "worse"]
TRENDS: Final[tuple[Trend, ...]] = ("single", "better", "stable", "worse")
# The smallest change of score that counts by itself (no band change needed).
MIN_IMPORTANT_CHANGE: Final[Mapping[str, int]] = {"phq9": 5}
# LOINC codes of the total scores that have one; the platform's diaries do not.
SCORE_LOINC: Final[Mapping[str, tuple[str, str]]] = {
    "phq9": ("44261-6", "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]"),
}
MAX_POINTS: Final = 120

# The bands and trends in the two languages of the documents (the report's text is written
# once, in the patient's language, like the rest of `domain.documents.monitoring_text`); the
# same words as the pages' catalogue (views.alert_text.QUESTIONNAIRE_BANDS).
BAND_WORDS: Final[Mapping[str, Mapping[str, str]]] = {
    "it": {"minimal": "minima", "mild": "lieve", "moderate": "moderata",
           "moderately_severe": "moderatamente grave", "severe": "grave",
           "stable": "stabile", "watch": "da tenere d'occhio", "worse": "peggiorato",
           "type1": "Anthonisen tipo 1", "type2": "Anthonisen tipo 2",
           "type3": "Anthonisen tipo 3", "some": "alcuni sintomi",
           "many": "molti sintomi"},
    "en": {"minimal": "minimal", "mild": "mild", "moderate": "moderate",
           "moderately_severe": "moderately severe", "severe": "severe",
           "stable": "stable", "watch": "to watch", "worse": "worse",
           "type1": "Anthonisen type 1", "type2": "Anthonisen type 2",
           "type3": "Anthonisen type 3", "some": "some symptoms", "many": "many symptoms"},
}
# "none" means a different thing in each diary.
NONE_WORDS: Final[Mapping[str, Mapping[str, str]]] = {
    "it": {"copd_diary": "nessuna riacutizzazione", "hypo_diary": "nessun sintomo"},
    "en": {"copd_diary": "no exacerbation", "hypo_diary": "no symptoms"},
}
TREND_WORDS: Final[Mapping[str, Mapping[str, str]]] = {
    "it": {"single": "una sola risposta", "better": "in miglioramento", "stable": "stabile",
           "worse": "in peggioramento"},
    "en": {"single": "one response only", "better": "improving", "stable": "stable",
           "worse": "worsening"},
}
TITLES: Final[Mapping[str, Mapping[str, str]]] = {
    "it": {"phq9": "Umore (PHQ-9)", "hf_diary": "Diario dello scompenso cardiaco",
           "copd_diary": "Diario della BPCO", "hypo_diary": "Diario delle ipoglicemie"},
    "en": {code: q.title for code, q in CATALOGUE.items()},
}


@dataclass(frozen=True, slots=True)
class ScoreLine:
    """One scored response: its questionnaire, time and score (total, band, flags)."""

    code: str
    at: datetime
    scored: Scored


@dataclass(frozen=True, slots=True)
class ScoreSummary:
    """A questionnaire's responses in the period."""

    code: str
    max_score: int
    count: int
    first: ScoreLine
    last: ScoreLine
    minimum: int
    maximum: int
    trend: Trend
    flagged: int
    points: tuple[tuple[str, int], ...]

    def to_dict(self) -> dict[str, Any]:
        loinc = SCORE_LOINC.get(self.code)
        return {"code": self.code, "max_score": self.max_score, "count": self.count,
                "first": _line(self.first), "last": _line(self.last),
                "min": self.minimum, "max": self.maximum, "trend": self.trend,
                "flagged": self.flagged, "loinc": loinc[0] if loinc else None,
                "points": [list(p) for p in self.points]}


def _line(line: ScoreLine) -> dict[str, Any]:
    return {"at": line.at.isoformat(), "score": line.scored.score, "band": line.scored.band,
            "flags": list(line.scored.flags)}


def score_trend(code: str, first: ScoreLine, last: ScoreLine, count: int) -> Trend:
    """How the last response compares with the first (see the module's docstring)."""
    if count < 2:
        return "single"
    bands = CATALOGUE[code].bands
    before, after = first.scored, last.scored
    moved = (band_rank(code, after.band) - band_rank(code, before.band)
             if before.band in bands and after.band in bands else 0)
    if moved == 0:
        change = MIN_IMPORTANT_CHANGE.get(code)
        delta = after.score - before.score
        moved = 0 if change is None or abs(delta) < change else delta
    return "worse" if moved > 0 else "better" if moved < 0 else "stable"


def _thin(points: Sequence[tuple[str, int]], limit: int) -> tuple[tuple[str, int], ...]:
    if len(points) <= limit:
        return tuple(points)
    step = -(-len(points) // limit)
    kept = list(points[::step])
    if kept[-1] != points[-1]:
        kept.append(points[-1])  # the last response is always shown
    return tuple(kept)


def summarize_scores(lines: Iterable[ScoreLine], *,
                     max_points: int = MAX_POINTS) -> tuple[ScoreSummary, ...]:
    """One summary per questionnaire of the catalogue, in the catalogue's order; responses
    of questionnaires the catalogue no longer has are left out."""
    by_code: dict[str, list[ScoreLine]] = {}
    for line in lines:
        if line.code in CATALOGUE:
            by_code.setdefault(line.code, []).append(line)
    out = []
    for code in CATALOGUE:
        rows = sorted(by_code.get(code, ()), key=lambda r: r.at)
        if not rows:
            continue
        scores = [r.scored.score for r in rows]
        out.append(ScoreSummary(
            code, CATALOGUE[code].max_score, len(rows), rows[0], rows[-1], min(scores),
            max(scores), score_trend(code, rows[0], rows[-1], len(rows)),
            sum(1 for r in rows if r.scored.flags),
            _thin([(r.at.isoformat(), r.scored.score) for r in rows], max_points)))
    return tuple(out)


def band_word(code: str, band: str, lang: str) -> str:
    """A band in words (``lang`` it or en)."""
    lang = lang if lang in BAND_WORDS else "it"
    if band == "none":
        return NONE_WORDS[lang].get(code, band)
    return BAND_WORDS[lang].get(band, band)


def title_of(code: str, lang: str) -> str:
    return TITLES["it" if lang == "it" else "en"].get(code, code)


def trend_word(trend: str, lang: str) -> str:
    return TREND_WORDS["it" if lang == "it" else "en"].get(trend, trend)


def scores_text(summaries: Iterable[Mapping[str, Any]], lang: str, *,
                where: tzinfo = UTC) -> str:
    """The drafted text of the questionnaire section, one line per questionnaire (from the
    summaries' ``to_dict`` form, as stored in a document's figures; dates in ``where``)."""
    it = lang == "it"
    lines = []
    for s in summaries:
        code, last, first = str(s["code"]), s["last"], s["first"]
        count = int(s["count"])
        answers = (("risposta" if count == 1 else "risposte") if it
                   else ("response" if count == 1 else "responses"))
        line = (f"{title_of(code, lang)}: {count} {answers}; {'ultima' if it else 'last'} "
                f"{day_text(str(last['at']), where, lang)}: {last['score']}/{s['max_score']}, "
                f"{band_word(code, str(last['band']), lang)}")
        if count > 1:
            line += (f" ({'prima' if it else 'first'} {first['score']}, "
                     f"min {s['min']}, max {s['max']}); "
                     f"{'andamento' if it else 'trend'}: {trend_word(str(s['trend']), lang)}")
        if s["flagged"]:
            warned = ("risposte con un segnale d'allarme" if it
                      else "responses with a warning sign")
            line += f"; {warned}: {s['flagged']}"
        lines.append(line)
    return "\n".join(lines)
