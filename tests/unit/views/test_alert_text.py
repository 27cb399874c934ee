"""An alert's detail as a sentence: both languages, the patient's time zone, old rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from telemed.domain import alert_detail as d
from telemed.domain.alert_detail import DETAIL_CODES
from telemed.domain.news2 import score
from telemed.domain.schedule import measurement_windows
from telemed.domain.trends import TrendHit
from telemed.views.alert_text import SENTENCES, alert_sentence

SUMMER = datetime(2026, 7, 29, 12, 32, tzinfo=UTC)  # 14:32 CEST in Rome


def say(detail: d.AlertDetail, lang: str, tz: str | None = "Europe/Rome",
        **options: Any) -> str:
    return alert_sentence(detail.code, detail.args, detail.text, lang=lang, timezone=tz,
                          **options)


def window(due_local_day: datetime) -> Any:
    return measurement_windows(["08:00"], 30, "Europe/Rome", due_local_day,
                               due_local_day + timedelta(days=1))[0]


def test_every_code_has_a_sentence() -> None:
    assert set(SENTENCES) == set(DETAIL_CODES)


CASES: list[tuple[d.AlertDetail, str, str]] = [
    (d.threshold("heart_rate", 150, "critical_high", SUMMER),
     "Heart rate 150 bpm (critical high) at 14:32 on 29 Jul",
     "Frequenza cardiaca 150 bpm (sopra la soglia critica) alle 14:32 del 29 lug"),
    (d.threshold("spo2", 93, "warning_low", SUMMER),
     "Oxygen saturation 93 % (warning low) at 14:32 on 29 Jul",
     "Saturazione di ossigeno (SpO2) 93 % (sotto la soglia di allerta) alle 14:32 del 29 lug"),
    (d.threshold("body_temp", 39.4, "warning_high", SUMMER),
     "Body temperature 39.4 °C (warning high) at 14:32 on 29 Jul",
     "Temperatura corporea 39,4 °C (sopra la soglia di allerta) alle 14:32 del 29 lug"),
    (d.threshold("resp_rate", 7, "critical_low", SUMMER),
     "Respiratory rate 7 breaths/min (critical low) at 14:32 on 29 Jul",
     "Frequenza respiratoria 7 atti/min (sotto la soglia critica) alle 14:32 del 29 lug"),
    (d.threshold_recovered("body_temp", 37.0, SUMMER),
     "Body temperature back to 37.0 °C at 14:32 on 29 Jul",
     "Temperatura corporea di nuovo a 37,0 °C alle 14:32 del 29 lug"),
    (d.trend("body_weight", TrendHit(SUMMER - timedelta(hours=48), 78.9, SUMMER, 81.0), 2, 72),
     "Body weight changed by +2.1 kg in 48 h (78.9 kg at 14:32 on 27 Jul → 81.0 kg at "
     "14:32 on 29 Jul; rule: +2 kg in 72 h)",
     "Peso corporeo: variazione di +2,1 kg in 48 h (78,9 kg alle 14:32 del 27 lug → 81,0 kg "
     "alle 14:32 del 29 lug; regola: +2 kg in 72 h)"),
    (d.trend("heart_rate", TrendHit(SUMMER - timedelta(hours=6), 110, SUMMER, 80), -25.5, 12),
     "Heart rate changed by -30 bpm in 6 h (110 bpm at 08:32 on 29 Jul → 80 bpm at 14:32 on "
     "29 Jul; rule: -25.5 bpm in 12 h)",
     "Frequenza cardiaca: variazione di -30 bpm in 6 h (110 bpm alle 08:32 del 29 lug → "
     "80 bpm alle 14:32 del 29 lug; regola: -25,5 bpm in 12 h)"),
    (d.news2(score({"resp_rate": 26, "spo2": 95, "bp_systolic": 105, "heart_rate": 135,
                    "body_temp": 37}), SUMMER),
     "NEWS2 8 (highest single parameter 3, risk high) at 14:32 on 29 Jul",
     "NEWS2 8 (punteggio più alto di un singolo parametro 3, rischio alto) alle 14:32 "
     "del 29 lug"),
    (d.news2(score({"resp_rate": 22, "spo2": 95, "bp_systolic": 105, "heart_rate": 95,
                    "body_temp": 37}), SUMMER),
     "NEWS2 5 (highest single parameter 2, risk medium) at 14:32 on 29 Jul",
     "NEWS2 5 (punteggio più alto di un singolo parametro 2, rischio medio) alle 14:32 "
     "del 29 lug"),
    (d.news2_recovered(2, SUMMER),
     "NEWS2 2 at 14:32 on 29 Jul", "NEWS2 2 alle 14:32 del 29 lug"),
    (d.missed_measurement("body_weight", window(datetime(2026, 7, 29, tzinfo=UTC)),
                          "Europe/Rome", "device_offline"),
     "Body weight due at 08:00 on 29 Jul was not received: the device was offline.",
     "Peso corporeo: la misurazione prevista alle 08:00 del 29 lug non è arrivata; il "
     "dispositivo era spento o scollegato."),
    (d.missed_measurement("bp_systolic", window(datetime(2026, 7, 29, tzinfo=UTC)),
                          "Europe/Rome", "patient_skipped"),
     "Systolic blood pressure due at 08:00 on 29 Jul was not received: the device was "
     "online, the patient did not measure.",
     "Pressione arteriosa sistolica: la misurazione prevista alle 08:00 del 29 lug non è "
     "arrivata; il dispositivo era acceso, il paziente non ha misurato."),
    (d.device_silent("dev1", "SN-42", "pulse_oximeter", SUMMER, 24),
     "Device SN-42 (Pulse oximeter) silent since 14:32 on 29 Jul (more than 24 h)",
     "Dispositivo SN-42 (Pulsossimetro) silente dalle 14:32 del 29 lug (da oltre 24 h)"),
    (d.device_heard_again("dev1", "SN-42", "scale", SUMMER),
     "Device SN-42 (Scale) heard again at 14:32 on 29 Jul",
     "Dispositivo SN-42 (Bilancia) di nuovo attivo alle 14:32 del 29 lug"),
    (d.questionnaire("phq9", 12, 27, "moderate", ("item9",), SUMMER),
     "Mood (PHQ-9): score 12 of 27 (moderate) at 14:32 on 29 Jul; needs attention: "
     "thoughts of self-harm (item 9)",
     "Umore (PHQ-9): punteggio 12 su 27 (moderata) alle 14:32 del 29 lug; da valutare: "
     "pensieri di autolesionismo (domanda 9)"),
    (d.questionnaire("hf_diary", 6, 9, "worse", (), SUMMER),
     "Heart failure diary: score 6 of 9 (worse) at 14:32 on 29 Jul",
     "Diario dello scompenso cardiaco: punteggio 6 su 9 (peggiorato) alle 14:32 del 29 lug"),
    (d.questionnaire_recovered("hf_diary", 1, 9, SUMMER),
     "Heart failure diary: score 1 of 9 at 14:32 on 29 Jul",
     "Diario dello scompenso cardiaco: punteggio 1 su 9 alle 14:32 del 29 lug"),
]


@pytest.mark.parametrize(("detail", "english", "italian"), CASES,
                         ids=[f"{c[0].code}-{i}" for i, c in enumerate(CASES)])
def test_every_code_in_both_languages(detail: d.AlertDetail, english: str,
                                      italian: str) -> None:
    assert say(detail, "en") == english
    assert say(detail, "it") == italian


def test_every_code_is_covered_by_the_cases() -> None:
    assert {detail.code for detail, _, _ in CASES} == set(DETAIL_CODES)


def test_the_example_of_the_ward() -> None:
    at = datetime(2026, 5, 4, 12, 32, tzinfo=UTC)
    detail = d.threshold("heart_rate", 150, "critical_high", at)
    assert say(detail, "it") == (
        "Frequenza cardiaca 150 bpm (sopra la soglia critica) alle 14:32 del 4 mag")
    assert detail.text == "Heart rate 150 bpm (critical high) at 2026-05-04T12:32:00+00:00"


# --- the patient's time zone ------------------------------------------------------------


@pytest.mark.parametrize(("utc", "italian", "english"), [
    # Spring forward in Europe/Rome, 29 March 2026 at 01:00 UTC: 02:00 CET → 03:00 CEST.
    (datetime(2026, 3, 28, 23, 30, tzinfo=UTC), "00:30 del 29 mar", "00:30 on 29 Mar"),
    (datetime(2026, 3, 29, 0, 59, tzinfo=UTC), "01:59 del 29 mar", "01:59 on 29 Mar"),
    (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "03:00 del 29 mar", "03:00 on 29 Mar"),
    (datetime(2026, 3, 29, 12, 32, tzinfo=UTC), "14:32 del 29 mar", "14:32 on 29 Mar"),
    (datetime(2026, 3, 28, 12, 32, tzinfo=UTC), "13:32 del 28 mar", "13:32 on 28 Mar"),
    # Fall back, 25 October 2026 at 01:00 UTC: 03:00 CEST → 02:00 CET (02:30 twice).
    (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "02:30 del 25 ott", "02:30 on 25 Oct"),
    (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "02:30 del 25 ott", "02:30 on 25 Oct"),
    (datetime(2026, 10, 25, 12, 32, tzinfo=UTC), "13:32 del 25 ott", "13:32 on 25 Oct"),
])
def test_times_are_the_patients_local_times_across_dst(utc: datetime, italian: str,
                                                       english: str) -> None:
    detail = d.news2_recovered(1, utc)
    assert say(detail, "it") == f"NEWS2 1 alle {italian}"
    assert say(detail, "en") == f"NEWS2 1 at {english}"


def test_a_trend_across_the_spring_change_counts_real_hours() -> None:
    start = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)  # 13:00 CET
    end = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)  # 14:00 CEST, 24 h later
    detail = d.trend("body_weight", TrendHit(start, 80.0, end, 82.5), 2, 48)
    assert say(detail, "it") == (
        "Peso corporeo: variazione di +2,5 kg in 24 h (80,0 kg alle 13:00 del 28 mar → "
        "82,5 kg alle 14:00 del 29 mar; regola: +2 kg in 48 h)")


def test_a_missed_measurement_is_due_at_its_local_time_on_both_sides_of_dst() -> None:
    before = window(datetime(2026, 3, 28, tzinfo=UTC))  # 08:00 CET = 07:00 UTC
    after = window(datetime(2026, 3, 29, tzinfo=UTC))  # 08:00 CEST = 06:00 UTC
    assert before.due.hour == 7 and after.due.hour == 6
    for win, day in ((before, "28"), (after, "29")):
        detail = d.missed_measurement("body_weight", win, "Europe/Rome", "device_offline")
        assert say(detail, "it").startswith(
            f"Peso corporeo: la misurazione prevista alle 08:00 del {day} mar non è arrivata")


def test_another_zone_is_named_when_asked() -> None:
    detail = d.threshold("heart_rate", 150, "critical_high", SUMMER)
    assert say(detail, "en", "Europe/London", name_zone=True) == (
        "Heart rate 150 bpm (critical high) at 13:32 on 29 Jul (Europe/London)")
    assert say(detail, "it", "America/New_York") == (
        "Frequenza cardiaca 150 bpm (sopra la soglia critica) alle 08:32 del 29 lug")


@pytest.mark.parametrize("tz", [None, "", "Not/AZone"])
def test_a_missing_or_unknown_zone_reads_as_rome(tz: str | None) -> None:
    detail = d.news2_recovered(1, SUMMER)
    assert say(detail, "it", tz) == "NEWS2 1 alle 14:32 del 29 lug"


# --- alerts stored before the codes, and unreadable values ---------------------------------


def test_an_old_row_without_a_code_shows_its_english_detail() -> None:
    old = "Heart rate 150 bpm (critical high) at 2025-01-01T10:00:00+00:00"
    for lang in ("it", "en"):
        assert alert_sentence(None, None, old, lang=lang, timezone="Europe/Rome") == old
        assert alert_sentence("", {}, old, lang=lang, timezone="Europe/Rome") == old


@pytest.mark.parametrize(("code", "args"), [
    ("threshold", None),
    ("no_such_code", {"metric": "heart_rate"}),
    ("threshold", {"metric": "heart_rate", "value": 150, "zone": "critical_high"}),  # no time
    ("threshold", {"metric": "heart_rate", "value": "150", "zone": "critical_high",
                   "at": "2026-07-29T12:32:00+00:00"}),  # a text, not a number
    ("threshold", {"metric": "heart_rate", "value": 150, "zone": "critical_high",
                   "at": "2026-07-29T12:32:00"}),  # a time without offset
    ("threshold", {"metric": "heart_rate", "value": 150, "zone": "sideways",
                   "at": "2026-07-29T12:32:00+00:00"}),
    ("threshold", {"metric": "pulse", "value": 150, "zone": "critical_high",
                   "at": "2026-07-29T12:32:00+00:00"}),
    ("news2", {"total": 7, "max_single": 3, "risk": "high", "at": "yesterday"}),
    ("missed_measurement", {"metric": "body_weight", "due": "2026-07-29T06:00:00+00:00",
                            "reason": "forgot"}),
    ("device_silent", {"serial": "SN-1", "kind": "scale", "since": 5, "silence_hours": 24}),
])
def test_unreadable_values_fall_back_to_the_english_detail(code: str,
                                                           args: dict[str, Any] | None) -> None:
    assert alert_sentence(code, args, "English detail", lang="it",
                          timezone="Europe/Rome") == "English detail"


def test_an_unknown_device_kind_is_said_as_stored() -> None:
    detail = d.device_heard_again("dev1", "SN-9", "spirometer", SUMMER)
    assert say(detail, "it") == (
        "Dispositivo SN-9 (spirometer) di nuovo attivo alle 14:32 del 29 lug")
