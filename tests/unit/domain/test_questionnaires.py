"""Questionnaire scoring on the published rules: PHQ-9 (Kroenke 2001), Anthonisen (1987)."""

from __future__ import annotations

import pytest

from telemed.domain.errors import DomainValidationError
from telemed.domain.questionnaires import CATALOGUE, past_threshold, score


def phq9(*values: int) -> dict[str, object]:
    return {f"phq9-{n}": v for n, v in enumerate(values, start=1)}


@pytest.mark.parametrize(("total", "band"), [
    (0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"),
    (14, "moderate"), (15, "moderately_severe"), (19, "moderately_severe"), (20, "severe"),
    (27, "severe"),
])
def test_phq9_sum_and_severity_bands(total: int, band: str) -> None:
    values = [0] * 9
    left = total
    for i in range(8):  # item 9 stays 0 so no flag
        values[i] = min(3, left)
        left -= values[i]
    if left:  # 27 needs item 9 too
        values[8] = left
    scored = score("phq9", phq9(*values))
    assert scored.score == total and scored.band == band


def test_phq9_item9_is_flagged_whatever_the_total() -> None:
    scored = score("phq9", phq9(0, 0, 0, 0, 0, 0, 0, 0, 1))
    assert scored.score == 1 and scored.band == "minimal" and scored.flags == ("item9",)
    assert past_threshold(scored, alert_at=10)
    assert not past_threshold(score("phq9", phq9(1, 1, 1, 1, 1, 1, 1, 1, 0)), alert_at=10)
    assert past_threshold(score("phq9", phq9(2, 2, 1, 1, 1, 1, 1, 1, 0)), alert_at=10)


@pytest.mark.parametrize(("cardinal", "minor", "band"), [
    ((1, 1, 1), (0, 0, 0, 0), "type1"),
    ((1, 1, 0), (0, 0, 0, 0), "type2"),
    ((0, 1, 1), (1, 1, 1, 1), "type2"),
    ((1, 0, 0), (0, 0, 0, 1), "type3"),
    ((0, 0, 1), (1, 0, 0, 0), "type3"),
    ((1, 0, 0), (0, 0, 0, 0), "none"),
    ((0, 0, 0), (1, 1, 1, 1), "none"),
])
def test_copd_anthonisen_types(cardinal: tuple[int, ...], minor: tuple[int, ...],
                               band: str) -> None:
    answers = dict(zip(("dyspnoea", "sputum_volume", "sputum_purulence"), cardinal,
                       strict=True))
    answers |= dict(zip(("cold", "fever", "wheeze", "cough"), minor, strict=True))
    scored = score("copd_diary", answers)
    assert scored.band == band and scored.score == sum(cardinal)


def test_heart_failure_diary_bands_and_warning_signs() -> None:
    calm = score("hf_diary", {"breathlessness": 0, "orthopnoea": 0, "ankle_swelling": 1,
                              "fatigue": 1})
    assert (calm.score, calm.band, calm.flags) == (2, "stable", ())
    worse = score("hf_diary", {"breathlessness": 3, "orthopnoea": 2, "ankle_swelling": 1,
                               "fatigue": 0})
    assert (worse.score, worse.band) == (6, "worse")
    assert worse.flags == ("breathless_at_rest", "orthopnoea")
    assert score("hf_diary", {"breathlessness": 1, "orthopnoea": 1, "ankle_swelling": 1,
                              "fatigue": 0}).band == "watch"


def test_hypoglycaemia_diary_counts_symptoms_and_flags_a_severe_episode() -> None:
    answers: dict[str, object] = {k: 0 for k in ("shaking", "sweating", "palpitations",
                                                 "hunger", "confusion", "dizziness")}
    assert score("hypo_diary", {**answers, "needed_help": 0}).band == "none"
    some = score("hypo_diary", {**answers, "shaking": 1, "sweating": 1, "needed_help": 0})
    assert (some.score, some.band, some.flags) == (2, "some", ())
    severe = score("hypo_diary", {**answers, "confusion": 1, "needed_help": 1})
    assert severe.flags == ("severe_hypo",) and severe.score == 1


def test_incomplete_unknown_and_out_of_range_answers_are_refused() -> None:
    with pytest.raises(DomainValidationError) as missing:
        score("hf_diary", {"breathlessness": 0})
    assert {e.path for e in missing.value.errors} == {
        "answers.orthopnoea", "answers.ankle_swelling", "answers.fatigue"}
    bad = {"breathlessness": 4, "orthopnoea": True, "ankle_swelling": "1", "fatigue": 0,
           "mood": 1}
    with pytest.raises(DomainValidationError) as wrong:
        score("hf_diary", bad)
    codes = {(e.path, e.code) for e in wrong.value.errors}
    assert codes == {("answers.breathlessness", "invalid_choice"),
                     ("answers.orthopnoea", "invalid_choice"),
                     ("answers.ankle_swelling", "invalid_choice"),
                     ("answers.mood", "unknown_item")}
    with pytest.raises(DomainValidationError):
        score("sf36", {})


def test_catalogue_has_the_condition_diaries_and_phq9() -> None:
    assert set(CATALOGUE) == {"phq9", "hf_diary", "copd_diary", "hypo_diary"}
    assert len(CATALOGUE["phq9"].items) == 9
    assert [i.link_id for i in CATALOGUE["hf_diary"].items] == [
        "breathlessness", "orthopnoea", "ankle_swelling", "fatigue"]
