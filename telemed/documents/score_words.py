"""A monitoring report's questionnaire scores in words, in the document's language: the drafted
text of its questionnaires section (one line per questionnaire) and the band the PDF and the
Bundle show. `telemed.domain.score_report` sums the responses up in codes and numbers; the
words are the catalogue's (context ``document``): the lines' templates here, the titles, bands
and trends in the labels' groups ``score_questionnaire``, ``score_band``, ``score_band_none``,
``score_trend`` (`telemed.i18n.labels`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, tzinfo
from typing import Any

from telemed.domain.local_time import day_text
from telemed.i18n.labels import LABELS, NC_, label, say, word

RESPONSES = NC_("document", "{title}: {count} responses; last {day}: {score}/{max_score}, {band}")
ONE_RESPONSE = NC_("document", "{title}: 1 response; last {day}: {score}/{max_score}, {band}")
SPREAD = NC_("document", "(first {first}, min {min}, max {max}); trend: {trend}")
FLAGGED = NC_("document", "responses with a warning sign: {count}")


def band_word(lang: str, code: str, band: str) -> str:
    """The band of a score of questionnaire ``code`` (the band itself when it has no word)."""
    none = LABELS["score_band_none"].get(code) if band == "none" else None
    return label(lang, "score_band", band) if none is None else word(lang, none)


def scores_text(summaries: Iterable[Mapping[str, Any]], lang: str, *,
                where: tzinfo = UTC) -> str:
    """The drafted text of the questionnaires section, one line per questionnaire (from the
    summaries' ``to_dict`` form, as stored in a document's figures; dates in ``where``)."""
    lines = []
    for s in summaries:
        code, last, first, count = str(s["code"]), s["last"], s["first"], int(s["count"])
        line = say(lang, ONE_RESPONSE if count == 1 else RESPONSES,
                   title=label(lang, "score_questionnaire", code), count=count,
                   day=day_text(str(last["at"]), where, lang), score=last["score"],
                   max_score=s["max_score"], band=band_word(lang, code, str(last["band"])))
        if count > 1:
            line += " " + say(lang, SPREAD, first=first["score"], min=s["min"], max=s["max"],
                              trend=label(lang, "score_trend", str(s["trend"])))
        if s["flagged"]:
            line += "; " + say(lang, FLAGGED, count=s["flagged"])
        lines.append(line)
    return "\n".join(lines)
