"""Questionnaire scores in a monitoring report: one summary per questionnaire answered in
the period (count, first and last score, range, band, trend), pure and clock-free.

The trend compares the last response of the period with the first: ``worse`` or ``better``
when the band moved (`telemed.domain.questionnaires.band_rank`), or, for the PHQ-9, when the
score moved by its minimal clinically important difference of 5 points (Löwe et al., Med
Care 2004) within one band; ``stable`` otherwise; ``single`` with one response only. Every
score of the catalogue grows with the symptoms, so a higher score is worse.

Codes and numbers only: the words (titles, bands, trends, the drafted lines) are the
catalogue's, said in the document's language by `telemed.documents.score_words`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

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
