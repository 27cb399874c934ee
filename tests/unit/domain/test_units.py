import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemed.domain.bands import Bands, classify, severity_of
from telemed.domain.units import (
    CLINICAL_METRICS,
    METRICS,
    UnitError,
    default_bands,
    from_canonical,
    metric_info,
    to_canonical,
)

EXPECTED_METRICS = {
    "heart_rate": ("/min", "8867-4"),
    "resp_rate": ("/min", "9279-1"),
    "spo2": ("%", "2708-6"),
    "body_temp": ("Cel", "8310-5"),
    "bp_systolic": ("mm[Hg]", "8480-6"),
    "bp_diastolic": ("mm[Hg]", "8462-4"),
    "body_weight": ("kg", "29463-7"),
    "blood_glucose": ("mg/dL", "2339-0"),
    "battery": ("%EL", None),
}


def test_metric_table_matches_contract_and_loinc() -> None:
    assert set(METRICS) == set(EXPECTED_METRICS)
    for name, (unit, loinc) in EXPECTED_METRICS.items():
        info = METRICS[name]
        assert info.name == name
        assert info.canonical_unit == unit
        assert info.loinc == loinc
        assert info.accepted_units[0] == unit
        assert info.display_name
    assert METRICS["spo2"].extra_loinc == ("59408-5",)
    assert METRICS["bp_systolic"].panel_loinc == METRICS["bp_diastolic"].panel_loinc == "85354-9"


def test_vital_and_clinical_flags() -> None:
    vitals = {n for n, m in METRICS.items() if m.is_vital}
    assert vitals == set(EXPECTED_METRICS) - {"blood_glucose", "battery"}
    assert METRICS["blood_glucose"].category == "laboratory"
    assert METRICS["blood_glucose"].is_clinical
    assert not METRICS["battery"].is_clinical
    assert "battery" not in CLINICAL_METRICS
    assert len(CLINICAL_METRICS) == 8


def test_accepted_units_are_exactly_the_contract_table() -> None:
    expected = {
        "heart_rate": {"/min", "beat/min", "1/min"},
        "resp_rate": {"/min", "1/min"},
        "spo2": {"%", "/"},
        "body_temp": {"Cel", "K", "[degF]"},
        "bp_systolic": {"mm[Hg]", "mmHg", "Pa", "kPa"},
        "bp_diastolic": {"mm[Hg]", "mmHg", "Pa", "kPa"},
        "body_weight": {"kg", "g", "[lb_av]"},
        "blood_glucose": {"mg/dL", "mmol/L", "kg/m3"},
        "battery": {"%EL"},
    }
    assert {n: set(m.accepted_units) for n, m in METRICS.items()} == expected


@pytest.mark.parametrize(
    ("metric", "value", "unit", "expected"),
    [
        ("heart_rate", 72, "/min", 72),
        ("heart_rate", 72, "beat/min", 72),
        ("heart_rate", 72.5, "1/min", 72.5),
        ("resp_rate", 16, "1/min", 16),
        ("spo2", 0.97, "/", 97.0),
        ("spo2", 1, "/", 100.0),
        ("spo2", 0.5, "/", 50.0),
        ("spo2", 95, "%", 95),
        ("body_temp", 310.15, "K", 37.0),
        ("body_temp", 98.6, "[degF]", 37.0),
        ("body_temp", 104, "[degF]", 40.0),
        ("body_temp", 36.6, "Cel", 36.6),
        ("bp_systolic", 120, "mmHg", 120),
        ("bp_systolic", 133.322387415 * 120, "Pa", 120.0),
        ("bp_diastolic", 10.6657909932, "kPa", 80.0),
        ("bp_diastolic", 13.3322387415, "kPa", 100.0),
        ("body_weight", 72500, "g", 72.5),
        ("body_weight", 100, "[lb_av]", 45.359237),
        ("body_weight", 80, "kg", 80),
        ("blood_glucose", 5.5, "mmol/L", 99.088),
        ("blood_glucose", 1, "mmol/L", 18.016),
        ("blood_glucose", 1.2, "kg/m3", 120.0),
        ("battery", 55, "%EL", 55),
    ],
)
def test_to_canonical(metric: str, value: float, unit: str, expected: float) -> None:
    assert to_canonical(metric, value, unit) == pytest.approx(expected, abs=1e-6)


def test_one_mmhg_is_exactly_133_322387415_pa() -> None:
    assert to_canonical("bp_systolic", 133.322387415 * 100, "Pa") == 100.0
    assert from_canonical("bp_systolic", 1.0, "Pa") == 133.322387
    assert from_canonical("bp_systolic", 100.0, "kPa") == 13.332239


def test_identity_keeps_value_untouched() -> None:
    value = 72.123456789
    assert to_canonical("heart_rate", value, "/min") == value


def _code(metric: str, value: float, unit: str | None) -> str:
    with pytest.raises(UnitError) as info:
        to_canonical(metric, value, unit)
    return info.value.code


def test_errors() -> None:
    assert _code("pulse", 70, "/min") == "unknown_metric"
    assert _code("heart_rate", 70, "bpm") == "unknown_unit"
    assert _code("body_temp", 37, "cel") == "unknown_unit"  # UCUM is case-sensitive
    assert _code("battery", 50, "%") == "unknown_unit"
    assert _code("spo2", 97, "mmHg") == "unknown_unit"
    assert _code("heart_rate", 70, None) == "missing_unit"
    assert _code("heart_rate", math.nan, "/min") == "not_finite"
    assert _code("heart_rate", math.inf, "/min") == "not_finite"
    assert _code("heart_rate", True, "/min") == "not_finite"
    assert _code("heart_rate", 10**400, "/min") == "not_finite"
    assert _code("heart_rate", "70", "/min") == "not_finite"  # type: ignore[arg-type]
    assert _code("spo2", 97, "/") == "implausible"  # a percentage sent as ratio
    assert _code("body_temp", 98.6, "Cel") == "implausible"  # Fahrenheit sent as Celsius
    assert _code("bp_systolic", 1e308, "kPa") == "implausible"  # overflow on conversion


def test_error_message_is_translatable_template() -> None:
    with pytest.raises(UnitError) as info:
        to_canonical("heart_rate", 70, "bpm")
    error = info.value.errors[0]
    assert error.path == "unit"
    assert "{unit}" in error.message
    assert error.render() == (
        'Unit "bpm" is not accepted for heart_rate; use one of: /min, beat/min, 1/min.')


PLAUSIBLE = {
    "heart_rate": (20, 300),
    "resp_rate": (2, 80),
    "spo2": (50, 100),
    "body_temp": (25, 45),
    "bp_systolic": (40, 300),
    "bp_diastolic": (20, 200),
    "body_weight": (1, 400),
    "blood_glucose": (10, 1000),
    "battery": (0, 100),
}


@pytest.mark.parametrize("metric", sorted(PLAUSIBLE))
def test_plausibility_boundaries_inclusive(metric: str) -> None:
    low, high = PLAUSIBLE[metric]
    unit = METRICS[metric].canonical_unit
    assert to_canonical(metric, low, unit) == low
    assert to_canonical(metric, high, unit) == high
    assert _code(metric, low - 0.001, unit) == "implausible"
    assert _code(metric, high + 0.001, unit) == "implausible"
    assert METRICS[metric].is_plausible(low)
    assert not METRICS[metric].is_plausible(math.nan)


def test_plausibility_checked_after_conversion() -> None:
    assert to_canonical("body_temp", 113, "[degF]") == 45.0
    assert _code("body_temp", 113.1, "[degF]") == "implausible"
    assert _code("body_weight", 0.5, "kg") == "implausible"
    assert to_canonical("body_weight", 1000, "g") == 1.0


def test_metric_info_unknown() -> None:
    with pytest.raises(UnitError) as info:
        metric_info("nope")
    assert info.value.code == "unknown_metric"
    with pytest.raises(UnitError):
        from_canonical("heart_rate", 70, "bpm")


@given(
    st.sampled_from(sorted(METRICS)).flatmap(
        lambda m: st.tuples(
            st.just(m),
            st.sampled_from(METRICS[m].accepted_units),
            st.floats(min_value=PLAUSIBLE[m][0] + 0.01, max_value=PLAUSIBLE[m][1] - 0.01),
        )
    )
)
def test_round_trip_through_any_accepted_unit(args: tuple[str, str, float]) -> None:
    metric, unit, canonical = args
    wire = from_canonical(metric, canonical, unit)
    assert to_canonical(metric, wire, unit) == pytest.approx(canonical, abs=1e-4)


# --- default bands -------------------------------------------------------------------

def test_default_bands_table() -> None:
    assert default_bands("heart_rate") == Bands(41, 51, 110, 130)
    assert default_bands("resp_rate") == Bands(9, 12, 20, 24)
    assert default_bands("spo2") == Bands(critical_low=92, warning_low=94)
    assert default_bands("body_temp") == Bands(35.1, 36.1, 39.0, 39.9)
    assert default_bands("bp_systolic") == Bands(91, 101, 179, 219)
    assert default_bands("bp_diastolic") == Bands(40, 50, 109, 119)
    assert default_bands("body_weight").is_empty
    assert default_bands("blood_glucose") == Bands(54, 70, 250, 400)
    assert default_bands("battery").is_empty


@pytest.mark.parametrize("metric", sorted(METRICS))
def test_default_bands_are_ordered_and_plausible(metric: str) -> None:
    bands = default_bands(metric)
    assert bands.order_problems() == []
    for value in bands.to_dict().values():
        assert METRICS[metric].is_plausible(value)


def _news2_like(metric: str, value: float) -> int:
    """Single-parameter NEWS2 score, written independently of telemed.domain.news2."""
    charts: dict[str, list[tuple[float, float, int]]] = {
        # (low, high, score) inclusive ranges at chart resolution
        "heart_rate": [(0, 40, 3), (41, 50, 1), (51, 90, 0), (91, 110, 1), (111, 130, 2),
                       (131, 999, 3)],
        "resp_rate": [(0, 8, 3), (9, 11, 1), (12, 20, 0), (21, 24, 2), (25, 999, 3)],
        "spo2": [(0, 91, 3), (92, 93, 2), (94, 95, 1), (96, 100, 0)],
        "bp_systolic": [(0, 90, 3), (91, 100, 2), (101, 110, 1), (111, 219, 0), (220, 999, 3)],
        "body_temp": [(0, 35.0, 3), (35.1, 36.0, 1), (36.1, 38.0, 0), (38.1, 39.0, 1),
                      (39.1, 99, 2)],
    }
    for low, high, score in charts[metric]:
        if low - 1e-9 <= value <= high + 1e-9:
            return score
    raise AssertionError(value)


# Zones where the defaults deliberately go beyond NEWS2 (see the units module docstring).
BEYOND_NEWS2 = {
    "bp_systolic": (180, 219, "warning"),  # hypertensive crisis
    "body_temp": (40.0, 45.0, "critical"),  # hyperpyrexia
}


@pytest.mark.parametrize("metric", ["heart_rate", "resp_rate", "spo2", "bp_systolic",
                                    "body_temp"])
def test_default_bands_reproduce_news2_zones_at_chart_resolution(metric: str) -> None:
    low, high = PLAUSIBLE[metric]
    step = 0.1 if metric == "body_temp" else 1
    bands = default_bands(metric)
    n = round((high - low) / step)
    for i in range(n + 1):
        value = round(low + i * step, 1)
        score = _news2_like(metric, value)
        severity = severity_of(classify(value, bands))
        documented_extra = BEYOND_NEWS2.get(metric)
        if documented_extra and documented_extra[0] <= value <= documented_extra[1]:
            assert severity == documented_extra[2], value
        elif score == 3:
            assert severity == "critical", value
        elif score == 2:
            assert severity == "warning", value
        elif score == 0:
            assert severity is None, value
        else:  # score 1: a warning only where the chart jumps from 1 to 3
            assert severity in (None, "warning"), value
