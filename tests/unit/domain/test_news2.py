import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemed.domain.news2 import (
    NEWS2_METRICS,
    PARAMETERS,
    News2Result,
    alert_severity,
    parameter_score,
    risk_of,
    score,
)

NORMAL = {"resp_rate": 16, "spo2": 97, "bp_systolic": 120, "heart_rate": 70, "body_temp": 37.0}


def one(metric: str, value: float, **options: Any) -> int:
    return parameter_score(metric, value, **options)


@pytest.mark.parametrize(
    ("value", "points"),
    [(0, 3), (8, 3), (8.5, 1), (9, 1), (11, 1), (11.5, 0), (12, 0), (20, 0), (20.5, 0),
     (21, 2), (24, 2), (24.5, 2), (25, 3), (60, 3)],
)
def test_resp_rate(value: float, points: int) -> None:
    assert one("resp_rate", value) == points


@pytest.mark.parametrize(
    ("value", "points"),
    [(50, 3), (91, 3), (91.5, 2), (92, 2), (93, 2), (93.5, 1), (94, 1), (95, 1), (95.5, 0),
     (96, 0), (100, 0)],
)
def test_spo2_scale1_ignores_oxygen_for_the_saturation_row(value: float, points: int) -> None:
    assert one("spo2", value, spo2_scale=1) == points
    assert one("spo2", value, spo2_scale=1, on_oxygen=True) == points


@pytest.mark.parametrize(
    ("value", "on_air", "on_oxygen"),
    [(70, 3, 3), (83, 3, 3), (83.5, 2, 2), (84, 2, 2), (85, 2, 2), (85.5, 1, 1), (86, 1, 1),
     (87, 1, 1), (87.5, 0, 0), (88, 0, 0), (92, 0, 0), (92.5, 0, 0), (93, 0, 1), (94, 0, 1),
     (94.5, 0, 1), (95, 0, 2), (96, 0, 2), (96.5, 0, 2), (97, 0, 3), (100, 0, 3)],
)
def test_spo2_scale2(value: float, on_air: int, on_oxygen: int) -> None:
    assert one("spo2", value, spo2_scale=2, on_oxygen=False) == on_air
    assert one("spo2", value, spo2_scale=2, on_oxygen=True) == on_oxygen


@pytest.mark.parametrize(
    ("value", "points"),
    [(60, 3), (90, 3), (90.5, 2), (91, 2), (100, 2), (100.5, 1), (101, 1), (110, 1),
     (110.5, 0), (111, 0), (219, 0), (219.5, 0), (220, 3), (260, 3)],
)
def test_systolic(value: float, points: int) -> None:
    assert one("bp_systolic", value) == points


@pytest.mark.parametrize(
    ("value", "points"),
    [(30, 3), (40, 3), (40.5, 1), (41, 1), (50, 1), (50.5, 0), (51, 0), (90, 0), (90.5, 0),
     (91, 1), (110, 1), (110.5, 1), (111, 2), (130, 2), (130.5, 2), (131, 3), (180, 3)],
)
def test_pulse(value: float, points: int) -> None:
    assert one("heart_rate", value) == points


@pytest.mark.parametrize(
    ("value", "points"),
    [(33.0, 3), (35.0, 3), (35.05, 1), (35.1, 1), (36.0, 1), (36.05, 0), (36.1, 0),
     (38.0, 0), (38.05, 0), (38.1, 1), (39.0, 1), (39.05, 1), (39.1, 2), (41.0, 2)],
)
def test_temperature(value: float, points: int) -> None:
    assert one("body_temp", value) == points


def test_parameter_score_errors() -> None:
    with pytest.raises(ValueError):
        one("body_weight", 70)
    with pytest.raises(ValueError):
        one("spo2", 95, spo2_scale=3)
    with pytest.raises(ValueError):
        one("heart_rate", math.nan)
    with pytest.raises(ValueError):
        one("heart_rate", math.inf)


def test_all_normal_scores_zero() -> None:
    result = score(NORMAL)
    assert result == News2Result(0, dict.fromkeys(PARAMETERS, 0), 0, "low")
    assert alert_severity(result) is None
    assert list(result.per_parameter) == list(PARAMETERS)


def test_oxygen_adds_two_and_consciousness_three() -> None:
    result = score(NORMAL, on_oxygen=True)
    assert result.per_parameter["air_or_oxygen"] == 2
    assert result.total == 2
    result = score(NORMAL, consciousness="new_confusion")
    assert result.per_parameter["consciousness"] == 3
    assert (result.total, result.max_single, result.risk) == (3, 3, "low_medium")
    assert alert_severity(result) == "warning"
    for level in ("voice", "pain", "unresponsive"):
        assert score(NORMAL, consciousness=level).per_parameter["consciousness"] == 3


def test_scale2_on_oxygen_full_example() -> None:
    # COPD patient on oxygen, SpO2 96 %: 2 (scale 2 on O2) + 2 (oxygen)
    result = score({**NORMAL, "spo2": 96}, spo2_scale=2, on_oxygen=True)
    assert result.per_parameter["spo2"] == 2
    assert result.total == 4
    assert result.risk == "low"
    # same saturation on air, scale 2: 0
    assert score({**NORMAL, "spo2": 96}, spo2_scale=2).total == 0
    # scale 1 on air: 0; at 90 % on scale 1 → 3, on scale 2 → 0
    assert score({**NORMAL, "spo2": 90}).per_parameter["spo2"] == 3
    assert score({**NORMAL, "spo2": 90}, spo2_scale=2).per_parameter["spo2"] == 0


def test_deteriorating_patient() -> None:
    vitals = {"resp_rate": 23, "spo2": 93, "bp_systolic": 105, "heart_rate": 115,
              "body_temp": 38.5}
    result = score(vitals)
    assert dict(result.per_parameter) == {"resp_rate": 2, "spo2": 2, "air_or_oxygen": 0,
                                          "bp_systolic": 1, "heart_rate": 2,
                                          "consciousness": 0, "body_temp": 1}
    assert (result.total, result.risk) == (8, "high")
    assert alert_severity(result) == "critical"


def test_maximum_score() -> None:
    vitals = {"resp_rate": 30, "spo2": 80, "bp_systolic": 80, "heart_rate": 140,
              "body_temp": 34}
    result = score(vitals, on_oxygen=True, consciousness="unresponsive")
    assert result.total == 3 + 3 + 2 + 3 + 3 + 3 + 3 == 20


def test_missing_vitals_and_bad_options() -> None:
    with pytest.raises(ValueError, match="spo2, body_temp"):
        score({"resp_rate": 16, "bp_systolic": 120, "heart_rate": 70})
    with pytest.raises(ValueError):
        score(NORMAL, consciousness="asleep")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        score({**NORMAL, "body_temp": math.nan})


def test_result_is_read_only() -> None:
    result = score(NORMAL)
    with pytest.raises(TypeError):
        result.per_parameter["spo2"] = 3  # type: ignore[index]


@pytest.mark.parametrize(
    ("total", "max_single", "risk", "severity"),
    [(0, 0, "low", None), (1, 1, "low", None), (4, 2, "low", None),
     (3, 3, "low_medium", "warning"), (4, 3, "low_medium", "warning"),
     (5, 2, "medium", "warning"), (6, 3, "medium", "warning"), (7, 2, "high", "critical"),
     (7, 3, "high", "critical"), (20, 3, "high", "critical")],
)
def test_risk_and_alert_severity(total: int, max_single: int, risk: str,
                                 severity: str | None) -> None:
    assert risk_of(total, max_single) == risk
    result = News2Result(total, {}, max_single, risk_of(total, max_single))
    assert alert_severity(result) == severity


vital_values = st.fixed_dictionaries({
    "resp_rate": st.floats(2, 80),
    "spo2": st.floats(50, 100),
    "bp_systolic": st.floats(40, 300),
    "heart_rate": st.floats(20, 300),
    "body_temp": st.floats(25, 45),
})


@given(vital_values, st.sampled_from([1, 2]), st.booleans())
def test_total_is_sum_and_bounded(vitals: dict[str, float], scale: int, oxygen: bool) -> None:
    result = score(vitals, spo2_scale=scale, on_oxygen=oxygen)  # type: ignore[arg-type]
    assert result.total == sum(result.per_parameter.values())
    assert 0 <= result.total <= 20
    assert all(0 <= p <= 3 for p in result.per_parameter.values())
    assert set(result.per_parameter) == set(PARAMETERS)


@given(st.sampled_from(NEWS2_METRICS), st.floats(20, 300), st.floats(20, 300))
def test_scores_are_u_shaped(metric: str, a: float, b: float) -> None:
    """Moving away from the normal zone never lowers a score (no gaps, no dips)."""
    normal = {"resp_rate": 16, "spo2": 99, "bp_systolic": 150, "heart_rate": 70,
              "body_temp": 37.0}[metric]
    low, high = sorted((a, b))
    if high <= normal:
        assert one(metric, low) >= one(metric, high)
    elif low >= normal:
        assert one(metric, high) >= one(metric, low)
