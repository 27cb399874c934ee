"""The words for the values people see: roles, kinds, statuses, relationships, metrics.

One table for the templates (the `label(group, value)` global and the macros of
``_macros.html``), the Python of the pages, the string tables of the scripts and the text the
services draft into documents. A label is an English msgid, with a context when the Italian
word agrees with a noun (``pgettext("care plan", "Active")``). A value without a label is
shown as it is. It sits beside the catalogues so that services and views read the same table.
"""

from __future__ import annotations

from telemed.domain.units import METRICS
from telemed.i18n import translations

Label = tuple[str | None, str]  # (gettext context or None, English msgid)


def N_(message: str) -> Label:
    """A label without context (marked for extraction)."""
    return None, message


def NC_(context: str, message: str) -> Label:
    """A label with a context (marked for extraction)."""
    return context, message


LABELS: dict[str, dict[str, Label]] = {
    "role": {"admin": N_("Administrator"), "doctor": N_("Doctor"), "nurse": N_("Nurse"),
             "patient": N_("Patient")},
    "sex": {"M": N_("Male"), "F": N_("Female"), "O": NC_("sex", "Other"),
            "U": NC_("sex", "Unknown")},
    "careplan_status": {"draft": NC_("care plan", "Draft"), "active": NC_("care plan", "Active"),
                        "completed": NC_("care plan", "Completed")},
    "severity": {"critical": N_("Critical"), "warning": N_("Warning")},
    "alert_status": {"open": NC_("alert", "Open"), "acknowledged": NC_("alert", "Acknowledged"),
                     "resolved": NC_("alert", "Resolved")},
    "alert_kind": {"threshold": NC_("alert kind", "Out of range"),
                   "threshold_recovered": NC_("alert kind", "Back in range"),
                   "trend": NC_("alert kind", "Change over time"),
                   "news2": NC_("alert kind", "NEWS2 score"),
                   "news2_recovered": NC_("alert kind", "NEWS2 score back down"),
                   "missed_measurement": NC_("alert kind", "Missed measurement"),
                   "device_silent": NC_("alert kind", "Silent device"),
                   "device_heard_again": NC_("alert kind", "Device heard again"),
                   "questionnaire": NC_("alert kind", "Questionnaire"),
                   "questionnaire_recovered": NC_("alert kind", "Questionnaire back in range")},
    # the msgids are the catalogue's metric names (telemed/domain/units.py)
    "metric": {key: (None, info.display_name) for key, info in METRICS.items()},
    "relationship": {"caregiver": N_("caregiver"), "parent": N_("parent"),
                     "guardian": N_("guardian")},
    "visit_kind": {"televisit": N_("Televisit"), "teleconsult": N_("Teleconsult"),
                   "teleassistance": N_("Teleassistance")},
    "visit_status": {"scheduled": N_("Scheduled"), "waiting": N_("Waiting room open"),
                     "in_progress": N_("In progress"), "completed": N_("Completed"),
                     "cancelled": N_("Cancelled")},
    "device_kind": {"bp_cuff": N_("Blood pressure monitor"), "pulse_oximeter": N_("Pulse oximeter"),
                    "scale": N_("Scale"), "thermometer": N_("Thermometer"),
                    "glucometer": N_("Glucose meter"), "multi": N_("Multi-parameter monitor")},
    "device_status": {"online": N_("Online"), "offline": N_("Offline"),
                      "revoked": N_("Revoked")},
    # as the index of a patient's documents (a PDF) says them
    "document_status": {"draft": NC_("document", "draft"),
                        "partially_signed": NC_("document", "awaiting co-signature"),
                        "signed": NC_("document", "signed"),
                        "replaced": NC_("document", "replaced")},
    # a monitoring report's questionnaires, as its text, PDF and Bundle say them: the English
    # titles are the questionnaires' own (telemed/domain/questionnaires.py), the bands and
    # trends those of telemed/domain/score_report.py
    "score_questionnaire": {"phq9": NC_("document", "Mood (PHQ-9)"),
                            "hf_diary": NC_("document", "Heart failure diary"),
                            "copd_diary": NC_("document", "COPD diary"),
                            "hypo_diary": NC_("document", "Low blood sugar diary")},
    "score_band": {"minimal": NC_("document", "minimal"), "mild": NC_("document", "mild"),
                   "moderate": NC_("document", "moderate"),
                   "moderately_severe": NC_("document", "moderately severe"),
                   "severe": NC_("document", "severe"), "stable": NC_("document", "stable"),
                   "watch": NC_("document", "to watch"), "worse": NC_("document", "worse"),
                   "type1": NC_("document", "Anthonisen type 1"),
                   "type2": NC_("document", "Anthonisen type 2"),
                   "type3": NC_("document", "Anthonisen type 3"),
                   "some": NC_("document", "some symptoms"),
                   "many": NC_("document", "many symptoms")},
    # the band "none" of each diary ("none" means a different thing in each)
    "score_band_none": {"copd_diary": NC_("document", "no exacerbation"),
                        "hypo_diary": NC_("document", "no symptoms")},
    "score_trend": {"single": NC_("document", "one response only"),
                    "better": NC_("document", "improving"),
                    "stable": NC_("document", "stable"),
                    "worse": NC_("document", "worsening")},
    # a teleconsult's urgency and mode, as its drafted report says them
    # (telemed/domain/teleconsults.py)
    "teleconsult_urgency": {"routine": NC_("document", "routine"),
                            "urgent": NC_("document", "urgent")},
    "teleconsult_mode": {"live": NC_("document", "live video teleconsult"),
                         "async": NC_("document", "in writing")},
}


def msgids(group: str) -> dict[str, str]:
    """value → English msgid of the labels of `group` that need no context."""
    return {value: msgid for value, (context, msgid) in LABELS[group].items() if context is None}


def label(language: str, group: str, value: str) -> str:
    """The word for `value` of `group` in `language` (the value itself when it has none)."""
    found = LABELS.get(group, {}).get(value)
    return value if found is None else word(language, found)


def word(language: str, found: Label) -> str:
    """A label (marked with `N_` or `NC_`) in `language`."""
    context, msgid = found
    trans = translations(language)
    said = trans.pgettext(context, msgid) if context else trans.gettext(msgid)
    return said if isinstance(said, str) else msgid


def say(language: str, found: Label, **params: object) -> str:
    """A message (marked with `N_` or `NC_`) in `language`, its ``{placeholders}`` filled by
    `params`."""
    said = word(language, found)
    return said.format(**params) if params else said
