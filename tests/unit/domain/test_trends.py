import math
import random
import time as clock
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemed.domain.trends import TrendHit, evaluate_trend

T0 = datetime(2025, 1, 1, 8, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_weight_gain_within_window() -> None:
    readings = [(at(0), 70.0), (at(24), 71.0), (at(48), 72.0)]
    hit = evaluate_trend(readings, 2, 72)
    assert hit == TrendHit(at(0), 70.0, at(48), 72.0)
    assert hit.change == 2.0 and hit.hours == 48


def test_window_boundary_inclusive() -> None:
    readings = [(at(0), 70.0), (at(72), 72.0)]
    assert evaluate_trend(readings, 2, 72) is not None
    readings = [(at(0), 70.0), (at(72) + timedelta(seconds=1), 72.0)]
    assert evaluate_trend(readings, 2, 72) is None


def test_delta_boundary_and_float_tolerance() -> None:
    assert evaluate_trend([(at(0), 69.3), (at(1), 71.3)], 2, 72) is not None
    assert evaluate_trend([(at(0), 70.0), (at(1), 71.99)], 2, 72) is None
    assert evaluate_trend([(at(0), 70.0), (at(1), 72.0)], 2, 72) is not None


def test_sign_of_delta() -> None:
    gain = [(at(0), 70.0), (at(10), 73.0)]
    loss = [(at(0), 73.0), (at(10), 70.0)]
    assert evaluate_trend(gain, 2, 72) is not None
    assert evaluate_trend(gain, -2, 72) is None
    assert evaluate_trend(loss, 2, 72) is None
    hit = evaluate_trend(loss, -3, 72)
    assert hit == TrendHit(at(0), 73.0, at(10), 70.0)
    assert hit.change == -3.0


def test_order_matters_not_just_range() -> None:
    # a high value followed by a low one is a loss, not a gain
    assert evaluate_trend([(at(0), 72.0), (at(1), 70.0)], 2, 72) is None


def test_late_readings_sorted_first() -> None:
    readings = [(at(48), 72.5), (at(0), 70.0), (at(24), 71.0)]
    assert evaluate_trend(readings, 2, 72) == TrendHit(at(0), 70.0, at(48), 72.5)
    # arriving late, an early low value still makes a later reading a gain
    assert evaluate_trend([(at(10), 72.0), (at(5), 69.5)], 2, 72) is not None


def test_same_time_readings_are_not_a_pair() -> None:
    assert evaluate_trend([(at(0), 70.0), (at(0), 75.0)], 2, 72) is None
    readings = [(at(0), 70.0), (at(1), 71.0), (at(1), 73.0)]
    assert evaluate_trend(readings, 2, 72) == TrendHit(at(0), 70.0, at(1), 73.0)


def test_strongest_pair_reported() -> None:
    readings = [(at(0), 70.0), (at(10), 72.0), (at(20), 69.0), (at(30), 74.0), (at(40), 72.0)]
    assert evaluate_trend(readings, 2, 72) == TrendHit(at(20), 69.0, at(30), 74.0)


def test_ending_after_ignores_old_pairs() -> None:
    readings = [(at(0), 70.0), (at(10), 73.0), (at(100), 73.0)]
    assert evaluate_trend(readings, 2, 72) is not None
    assert evaluate_trend(readings, 2, 72, ending_after=at(50)) is None
    readings.append((at(101), 75.5))
    assert evaluate_trend(readings, 2, 72, ending_after=at(50)) == TrendHit(
        at(100), 73.0, at(101), 75.5)


def test_empty_and_single() -> None:
    assert evaluate_trend([], 2, 72) is None
    assert evaluate_trend([(at(0), 70.0)], 2, 72) is None


def test_fractional_window() -> None:
    assert evaluate_trend([(at(0), 80.0), (at(0.5), 95.0)], 15, 0.5) is not None
    assert evaluate_trend([(at(0), 80.0), (at(0.51), 95.0)], 15, 0.5) is None


def test_invalid_arguments() -> None:
    for delta in (0, math.nan, math.inf):
        with pytest.raises(ValueError):
            evaluate_trend([], delta, 72)
    for window in (0, -1, math.nan, math.inf):
        with pytest.raises(ValueError):
            evaluate_trend([], 2, window)
    with pytest.raises(ValueError):
        evaluate_trend([(at(0), math.nan)], 2, 72)


def brute_force(readings: list[tuple[datetime, float]], delta: float,
                window_hours: float) -> float | None:
    best = None
    for t1, v1 in readings:
        for t2, v2 in readings:
            if t1 < t2 and t2 - t1 <= timedelta(hours=window_hours):
                change = v2 - v1
                qualifies = (delta > 0 and change >= delta * (1 - 1e-9)) or (
                    delta < 0 and change <= delta * (1 - 1e-9))
                if qualifies and (best is None or abs(change) > abs(best)):
                    best = change
    return best


@given(
    st.lists(st.tuples(st.integers(0, 200), st.integers(600, 900)), max_size=40),
    st.sampled_from([1, 2, 5, -1, -2, -5]),
    st.sampled_from([1, 12, 24, 72]),
)
def test_matches_brute_force(raw: list[tuple[int, int]], delta: float, window: int) -> None:
    readings = [(at(h), kg / 10) for h, kg in raw]
    hit = evaluate_trend(readings, delta, window)
    expected = brute_force(readings, delta, window)
    if expected is None:
        assert hit is None
    else:
        assert hit is not None
        assert hit.change == pytest.approx(expected)
        assert (hit.start_time, hit.start_value) in readings
        assert (hit.end_time, hit.end_value) in readings
        assert hit.start_time < hit.end_time <= hit.start_time + timedelta(hours=window)


@pytest.mark.scale
def test_large_input_is_fast() -> None:
    rng = random.Random(7)
    readings = [(T0 + timedelta(minutes=i), 70 + rng.random()) for i in range(200_000)]
    rng.shuffle(readings)
    started = clock.perf_counter()
    assert evaluate_trend(readings, 2, 72) is None
    assert clock.perf_counter() - started < 5  # quadratic would take hours
    readings.append((T0 + timedelta(minutes=200_001), 73.0))
    hit = evaluate_trend(readings, 2, 72)
    assert hit is not None and hit.end_value == 73.0
