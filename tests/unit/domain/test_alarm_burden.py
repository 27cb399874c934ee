"""Alarm-burden statistics on published definitions (docs/notifications.md, "Alarm burden")."""

from __future__ import annotations

from datetime import timedelta

import pytest

from telemed.domain.alarm_burden import (
    Counts,
    burden,
    median,
    median_ranks,
    nearest_rank,
    nearest_rank_index,
    p90,
    per_nurse_shift,
    per_patient_week,
    share,
    stats,
)


def test_median_of_an_odd_sample_is_its_middle_value() -> None:
    # NIST/SEMATECH e-Handbook 1.3.5.1: the middle of the ordered data
    assert median([3, 1, 2]) == 2
    assert median([7]) == 7


def test_median_of_an_even_sample_is_the_mean_of_the_two_middle_values() -> None:
    assert median([1, 2, 3, 4]) == 2.5
    assert median([10, 40, 20, 30]) == 25


def test_nearest_rank_matches_the_worked_examples() -> None:
    # Wikipedia "Percentile", nearest-rank method, ordered list {15, 20, 35, 40, 50}
    data = [15, 20, 35, 40, 50]
    assert nearest_rank(data, 5) == 15
    assert nearest_rank(data, 30) == 20
    assert nearest_rank(data, 40) == 20
    assert nearest_rank(data, 50) == 35
    assert nearest_rank(data, 100) == 50
    # second example: {3, 6, 7, 8, 8, 10, 13, 15, 16, 20}
    more = [3, 6, 7, 8, 8, 10, 13, 15, 16, 20]
    assert nearest_rank(more, 25) == 7
    assert nearest_rank(more, 50) == 8
    assert nearest_rank(more, 75) == 15
    assert nearest_rank(more, 100) == 20


def test_p90_is_always_an_observed_value() -> None:
    assert p90(list(range(1, 11))) == 9  # rank ceil(0.9 * 10) = 9
    assert p90(list(range(1, 12))) == 10  # rank ceil(9.9) = 10
    assert p90([42]) == 42


def test_empty_samples_have_no_statistics_and_bad_percents_are_refused() -> None:
    assert median([]) is None and p90([]) is None
    with pytest.raises(ValueError):
        nearest_rank([1], 0)
    with pytest.raises(ValueError):
        nearest_rank([1], 101)


def test_rates() -> None:
    assert per_patient_week(14, 2, 7) == 7.0
    assert per_patient_week(3, 1, 30) == pytest.approx(0.7)
    assert per_patient_week(3, 0, 7) is None
    assert share(1, 4) == 0.25 and share(0, 0) is None
    # 2 nurses over 24 h = 6 nurse-shifts of 8 h
    assert per_nurse_shift(12, 2, timedelta(hours=24)) == 2.0
    assert per_nurse_shift(5, 0, timedelta(hours=24)) is None


def test_burden_puts_counts_and_times_together() -> None:
    b = burden(Counts(patients=4, alerts=8, critical=2, auto_recovered=2, escalations=3,
                      escalated_alerts=1), 7, stats([60, 120, 600]), stats([3600]), 1.5)
    out = b.out()
    assert out["alerts_per_patient_week"] == 2.0
    assert out["auto_recovered_share"] == 0.25
    assert out["time_to_acknowledge_s"] == {"median": 120, "p90": 600}
    assert out["time_to_resolve_s"] == {"median": 3600, "p90": 3600}
    assert out["escalations"] == 3 and out["notifications_per_nurse_shift"] == 1.5


def test_ranks_a_database_looks_up_agree_with_the_definitions() -> None:
    for n in range(1, 40):
        sample = [float(v * 7 % 23) for v in range(n)]
        ordered = sorted(sample)
        lo, hi = median_ranks(n)
        assert (ordered[lo] + ordered[hi]) / 2 == median(sample)
        assert ordered[nearest_rank_index(n, 90)] == p90(sample)
    assert median_ranks(5) == (2, 2) and median_ranks(4) == (1, 2)
    assert nearest_rank_index(10, 90) == 8 and nearest_rank_index(1, 90) == 0
    with pytest.raises(ValueError):
        median_ranks(0)
