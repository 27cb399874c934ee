"""A report's drafted sections in words, in the document's language: a monitoring report's
data sections (adherence, readings, alerts and, with `score_words`, the questionnaires) and a
teleconsult report's question and findings. `telemed.domain.documents` gives the figures and
the draft in codes and numbers; the words are the catalogue's (context ``document``): the
templates here, the values in the labels' groups (``severity``, ``alert_kind``, ``metric``,
``alert_status``, ``teleconsult_urgency``, ``teleconsult_mode``; `telemed.i18n.labels`).
"""

from __future__ import annotations

from datetime import UTC, tzinfo

from telemed.documents.score_words import scores_text
from telemed.domain.documents import AlertLine, MonitoringFigures, TeleconsultDraft
from telemed.domain.local_time import when_text
from telemed.i18n.labels import NC_, label, say

ADHERENCE = NC_("document", "Measurements taken: {taken} of {expected} scheduled ({percent} %).")
NOTHING_SCHEDULED = NC_("document", "No measurement was scheduled in the period.")
READING = NC_("document", "{metric}: n={count}, min {min}, median {median}, max {max} {unit}")
NO_READINGS = NC_("document", "No readings.")
ALERT = NC_("document", "{opened} {severity} {what}: {status}, {handled}")
NOT_HANDLED = NC_("document", "not handled")
NO_ALERTS = NC_("document", "No alerts.")
URGENCY = NC_("document", "Urgency: {urgency}")
MODE = NC_("document", "Mode: {mode}")
CITED = NC_("document", "Attachments and studies cited:")


def alert_text(a: AlertLine, lang: str, *, where: tzinfo = UTC) -> str:
    """One alert of a report: when it was opened (in ``where``), its severity, rule kind and
    metric, status, when it was handled and its note."""
    what = label(lang, "alert_kind", a.kind) + (
        f" {label(lang, 'metric', a.metric)}" if a.metric else "")
    handled = (when_text(a.handled_at, where, lang) if a.handled_at
               else say(lang, NOT_HANDLED))
    line = say(lang, ALERT, opened=when_text(a.opened_at, where, lang),
               severity=label(lang, "severity", a.severity), what=what,
               status=label(lang, "alert_status", a.status), handled=handled)
    return f"{line} · {a.note}" if a.note else line


def monitoring_text(figures: MonitoringFigures, lang: str, *,
                    where: tzinfo = UTC) -> dict[str, str]:
    """The drafted text of a monitoring report's data sections (the clinician completes the
    rest), times in the time zone ``where``; the questionnaires' section only when the period
    has responses (a plan without questionnaires has no such section)."""
    percent = figures.adherence_percent
    adherence = (say(lang, NOTHING_SCHEDULED) if percent is None else
                 say(lang, ADHERENCE, taken=figures.taken, expected=figures.expected,
                     percent=percent))
    readings = "\n".join(
        say(lang, READING, metric=label(lang, "metric", m.metric), count=m.count,
            min=f"{m.minimum:g}", median=f"{m.median:g}", max=f"{m.maximum:g}", unit=m.unit)
        for m in figures.metrics)
    alerts = "\n".join(alert_text(a, lang, where=where) for a in figures.alerts)
    out = {"adherence": adherence, "readings": readings or say(lang, NO_READINGS),
           "alerts": alerts or say(lang, NO_ALERTS)}
    if figures.questionnaires:
        out["questionnaires"] = scores_text([q.to_dict() for q in figures.questionnaires],
                                            lang, where=where)
    return out


def teleconsult_report_text(draft: TeleconsultDraft, lang: str) -> dict[str, str]:
    """The drafted sections of a teleconsult report: the question followed by its urgency,
    its mode and the attachments and studies it cites; the specialist's answer as the
    findings."""
    context = [say(lang, URGENCY, urgency=label(lang, "teleconsult_urgency", draft.urgency)),
               say(lang, MODE, mode=label(lang, "teleconsult_mode", draft.mode))]
    if draft.cited:
        context.append(say(lang, CITED) + "".join(f"\n- {item}" for item in draft.cited))
    return {"question": draft.question + "\n\n" + "\n".join(context),
            "findings": draft.findings}
