"""A report's drafted sections in words: a monitoring report's adherence, readings and alerts
(handled or not, local times) and a teleconsult report's urgency and mode, in both languages;
every urgency and mode of the domain with its words, Italian ones included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from telemed.documents.report_words import alert_text, monitoring_text, teleconsult_report_text
from telemed.domain import documents as rules
from telemed.domain.questionnaires import Scored
from telemed.domain.score_report import ScoreLine
from telemed.domain.teleconsults import MODES, URGENCIES
from telemed.i18n.labels import LABELS, label

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
ROME = ZoneInfo("Europe/Rome")


def _figures() -> rules.MonitoringFigures:
    handled = rules.AlertLine("threshold", "spo2", "critical", T0 + timedelta(hours=5),
                              "resolved", T0 + timedelta(hours=5, minutes=12), "Chiamato")
    open_one = rules.AlertLine("missed_measurement", None, "warning", T0 + timedelta(days=1),
                               "open", None, None)
    return rules.monitoring_figures(
        period_start=T0, period_end=T0 + timedelta(days=30), expected=60, taken=45,
        readings={"spo2": ("%", [91.0, 95.0, 97.0, 93.5]), "body_weight": ("kg", [80.25])},
        alerts=[open_one, handled], scores=[ScoreLine("phq9", T0, Scored(11, "moderate"))])


def test_a_monitoring_report_in_italian() -> None:
    assert monitoring_text(_figures(), "it", where=ROME) == {
        "adherence": "Misurazioni eseguite: 45 su 60 programmate (75 %).",
        "readings": "Peso corporeo: n=1, min 80.25, mediana 80.25, max 80.25 kg\n"
                    "Saturazione di ossigeno (SpO2): n=4, min 91, mediana 94.25, max 97 %",
        "alerts": "01/11/2026 14:00 Critico Valore fuori soglia Saturazione di ossigeno "
                  "(SpO2): Risolta, 01/11/2026 14:12 · Chiamato\n"
                  "02/11/2026 09:00 Allerta Misurazione mancata: Aperta, non gestito",
        "questionnaires": "Umore (PHQ-9): 1 risposta; ultima 01/11/2026: 11/27, moderata"}


def test_a_monitoring_report_in_english() -> None:
    assert monitoring_text(_figures(), "en") == {
        "adherence": "Measurements taken: 45 of 60 scheduled (75 %).",
        "readings": "Body weight: n=1, min 80.25, median 80.25, max 80.25 kg\n"
                    "Oxygen saturation: n=4, min 91, median 94.25, max 97 %",
        "alerts": "2026-11-01 13:00 Critical Out of range Oxygen saturation: "
                  "Resolved, 2026-11-01 13:12 · Chiamato\n"
                  "2026-11-02 08:00 Warning Missed measurement: Open, not handled",
        "questionnaires": "Mood (PHQ-9): 1 response; last 2026-11-01: 11/27, moderate"}


@pytest.mark.parametrize(("lang", "expected", "none_taken"), [
    ("it", {"adherence": "Nessuna misurazione programmata nel periodo.",
            "readings": "Nessuna rilevazione.", "alerts": "Nessun allarme."},
     "Misurazioni eseguite: 0 su 3 programmate (0 %)."),
    ("en", {"adherence": "No measurement was scheduled in the period.",
            "readings": "No readings.", "alerts": "No alerts."},
     "Measurements taken: 0 of 3 scheduled (0 %).")])
def test_a_period_without_data_says_so(lang: str, expected: dict[str, str],
                                       none_taken: str) -> None:
    """Nothing scheduled, read or raised, and no questionnaires' section."""
    bare = rules.monitoring_figures(period_start=T0, period_end=T0, expected=0, taken=0,
                                    readings={"spo2": ("%", [])}, alerts=[])
    assert monitoring_text(bare, lang) == expected
    missed = rules.monitoring_figures(period_start=T0, period_end=T0, expected=3, taken=0,
                                      readings={}, alerts=[])
    assert monitoring_text(missed, lang)["adherence"] == none_taken


def test_an_alert_without_words_is_shown_by_its_codes() -> None:
    odd = rules.AlertLine("unheard_of", "mystery", "info", T0, "odd", None, "")
    assert alert_text(odd, "it") == "01/11/2026 08:00 info unheard_of mystery: odd, non gestito"
    assert alert_text(odd, "en") == "2026-11-01 08:00 info unheard_of mystery: odd, not handled"


@pytest.mark.parametrize(("lang", "urgency", "mode", "context"), [
    ("it", "urgent", "async", "Urgenza: urgente\nModalità: per iscritto"),
    ("it", "routine", "live", "Urgenza: ordinaria\nModalità: teleconsulto in video"),
    ("en", "urgent", "live", "Urgency: urgent\nMode: live video teleconsult"),
    ("en", "routine", "async", "Urgency: routine\nMode: in writing")])
def test_a_teleconsult_report_says_its_urgency_and_mode(lang: str, urgency: str, mode: str,
                                                        context: str) -> None:
    draft = rules.teleconsult_draft(question=" Dispnea: ecocardio?", urgency=urgency,
                                    mode=mode, cited=[], answer=" Ecocardio.\n\nRivalutare. ")
    sections = teleconsult_report_text(draft, lang)
    assert sections == {"question": f"Dispnea: ecocardio?\n\n{context}",
                        "findings": "Ecocardio.\n\nRivalutare."}
    assert not rules.missing_sections(rules.kind_of("teleconsult_report"), sections)


@pytest.mark.parametrize(("lang", "heading"), [("it", "Allegati e studi citati:"),
                                               ("en", "Attachments and studies cited:")])
def test_a_teleconsult_report_lists_what_it_cites(lang: str, heading: str) -> None:
    draft = rules.teleconsult_draft(question="Q", urgency="routine", mode="async",
                                    cited=["ecg.pdf", "TC torace (1.2.3)"], answer="A")
    assert teleconsult_report_text(draft, lang)["question"].endswith(
        f"\n{heading}\n- ecg.pdf\n- TC torace (1.2.3)")


@pytest.mark.parametrize(("group", "codes"), [("teleconsult_urgency", URGENCIES),
                                              ("teleconsult_mode", MODES)])
def test_every_urgency_and_mode_has_its_words_in_both_languages(
        group: str, codes: tuple[str, ...]) -> None:
    """The Italian words exist and are not the English ones (a missing translation would
    leave English in an Italian report)."""
    assert set(LABELS[group]) == set(codes)
    for code in codes:
        context, english = LABELS[group][code]
        assert context == "document"
        assert label("en", group, code) == english
        assert label("it", group, code) not in (english, code), (group, code)
