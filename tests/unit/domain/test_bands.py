import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemed.domain.bands import Bands, classify, is_worse, severity_of

GLUCOSE = Bands(critical_low=54, warning_low=70, warning_high=180, critical_high=300)


@pytest.mark.parametrize(
    ("value", "zone"),
    [
        (53.99, "critical_low"),
        (54, "warning_low"),
        (69.9, "warning_low"),
        (70, "normal"),
        (120, "normal"),
        (180, "normal"),
        (180.01, "warning_high"),
        (300, "warning_high"),
        (300.5, "critical_high"),
    ],
)
def test_classify_limits_are_inclusive_of_the_milder_zone(value: float, zone: str) -> None:
    assert classify(value, GLUCOSE) == zone


def test_classify_with_missing_limits() -> None:
    only_critical = Bands(critical_low=40, critical_high=130)
    assert classify(39, only_critical) == "critical_low"
    assert classify(40, only_critical) == "normal"
    assert classify(131, only_critical) == "critical_high"
    low_only = Bands(warning_low=94, critical_low=92)
    assert classify(100, low_only) == "normal"
    assert classify(93, low_only) == "warning_low"
    assert classify(91, low_only) == "critical_low"
    assert classify(1e9, Bands()) == "normal"


def test_classify_rejects_nan() -> None:
    with pytest.raises(ValueError):
        classify(math.nan, GLUCOSE)


def test_infinities() -> None:
    assert classify(math.inf, GLUCOSE) == "critical_high"
    assert classify(-math.inf, GLUCOSE) == "critical_low"


def test_severity_of_and_is_worse() -> None:
    assert severity_of("normal") is None
    assert severity_of("warning_low") == "warning"
    assert severity_of("warning_high") == "warning"
    assert severity_of("critical_low") == "critical"
    assert severity_of("critical_high") == "critical"
    assert is_worse("critical", "warning")
    assert is_worse("warning", None)
    assert not is_worse("warning", "warning")
    assert not is_worse(None, "warning")


def test_normal_edges_and_emptiness() -> None:
    assert GLUCOSE.normal_low == 70 and GLUCOSE.normal_high == 180
    assert Bands(critical_low=1, critical_high=9).normal_low == 1
    assert Bands(critical_low=1, critical_high=9).normal_high == 9
    assert Bands().is_empty and Bands().normal_low is None
    assert not GLUCOSE.is_empty


def test_to_dict_has_present_limits_only() -> None:
    assert Bands(warning_low=94.0).to_dict() == {"warning_low": 94.0}
    assert GLUCOSE.to_dict() == {"critical_low": 54, "warning_low": 70, "warning_high": 180,
                                 "critical_high": 300}


def test_order_problems() -> None:
    assert GLUCOSE.order_problems() == []
    assert Bands(warning_low=80, warning_high=80).order_problems() == []
    assert Bands(critical_low=70, warning_low=70).order_problems() == [
        ("critical_low", "warning_low")]
    assert Bands(warning_high=180, critical_high=180).order_problems() == [
        ("warning_high", "critical_high")]
    assert Bands(warning_low=181, warning_high=180).order_problems() == [
        ("warning_low", "warning_high")]
    # absent limits are skipped, present ones compared across the gap
    assert Bands(critical_low=200, critical_high=100).order_problems() == [
        ("critical_low", "critical_high")]
    assert Bands(critical_low=100, warning_high=100).order_problems() == [
        ("critical_low", "warning_high")]


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@given(st.lists(finite, min_size=4, max_size=4, unique=True), finite)
def test_classify_monotonic_for_ordered_bands(limits: list[float], value: float) -> None:
    cl, wl, wh, ch = sorted(limits)
    bands = Bands(cl, wl, wh, ch)
    assert bands.order_problems() == []
    zone = classify(value, bands)
    expected = (
        "critical_low" if value < cl else "warning_low" if value < wl else
        "normal" if value <= wh else "warning_high" if value <= ch else "critical_high"
    )
    assert zone == expected
