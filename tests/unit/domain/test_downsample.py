"""Per-bucket min/max/mean downsampling for charts (telemed.domain.downsample)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemed.domain.downsample import (
    NICE_WIDTHS,
    bucket_number,
    bucket_width,
    downsample,
    epoch_seconds,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)  # a multiple of every width up to one day


def test_width_is_the_smallest_nice_one_that_fits() -> None:
    assert bucket_width(T0, T0 + timedelta(days=30), 300) == 3 * 3600  # 240 buckets
    assert bucket_width(T0, T0 + timedelta(days=7), 300) == 3600  # 168
    assert bucket_width(T0, T0 + timedelta(hours=24), 300) == 5 * 60  # 288
    assert bucket_width(T0, T0 + timedelta(minutes=10), 300) == 2  # 300
    assert bucket_width(T0, T0 + timedelta(days=30), 1000) == 1 * 3600  # 720
    for days in (1, 7, 30, 90, 365):
        width = bucket_width(T0, T0 + timedelta(days=days), 300)
        assert width in NICE_WIDTHS
        assert days * 86400 / width <= 300
        smaller = [w for w in NICE_WIDTHS if w < width]
        assert not smaller or days * 86400 / smaller[-1] > 300


def test_width_refuses_empty_periods_and_no_points() -> None:
    with pytest.raises(ValueError):
        bucket_width(T0, T0, 100)
    with pytest.raises(ValueError):
        bucket_width(T0, T0 + timedelta(hours=1), 0)
    with pytest.raises(ValueError):
        downsample([], 0)


def test_a_bucket_includes_its_start_and_excludes_its_end() -> None:
    width = 3600
    readings = [(T0, 1.0), (T0 + timedelta(seconds=3599, microseconds=999_999), 2.0),
                (T0 + timedelta(hours=1), 3.0)]
    first, second = downsample(readings, width)
    assert (first.start, first.count, first.min, first.max) == (T0, 2, 1.0, 2.0)
    assert (second.start, second.count, second.min) == (T0 + timedelta(hours=1), 1, 3.0)


def test_empty_buckets_are_left_out_so_gaps_stay_gaps() -> None:
    readings = [(T0 + timedelta(minutes=1), 5.0), (T0 + timedelta(hours=5, minutes=2), 7.0)]
    buckets = downsample(readings, 3600)
    assert [b.start for b in buckets] == [T0, T0 + timedelta(hours=5)]
    assert downsample([], 3600) == []


def test_a_single_reading_is_its_own_min_max_and_mean_at_its_own_time() -> None:
    at = T0 + timedelta(minutes=17, seconds=3)
    [bucket] = downsample([(at, 88.5)], 900)
    assert (bucket.count, bucket.min, bucket.max, bucket.mean) == (1, 88.5, 88.5, 88.5)
    assert bucket.first == bucket.last == at
    assert bucket.start == T0 + timedelta(minutes=15)


def test_a_one_minute_dip_is_kept_in_a_three_hour_bucket() -> None:
    readings = [(T0 + timedelta(minutes=i), 96.0) for i in range(180)]
    readings[97] = (readings[97][0], 81.0)
    readings[120] = (readings[120][0], 100.0)
    [bucket] = downsample(readings, 3 * 3600)
    assert bucket.min == 81.0 and bucket.max == 100.0
    assert bucket.count == 180
    assert bucket.mean == pytest.approx((96 * 178 + 81 + 100) / 180)
    assert bucket.first == T0 and bucket.last == T0 + timedelta(minutes=179)


def test_order_of_the_readings_does_not_matter() -> None:
    readings = [(T0 + timedelta(minutes=7 * i), float(i % 13)) for i in range(500)]
    assert downsample(readings, 1800) == downsample(list(reversed(readings)), 1800)


def test_thirty_days_per_minute_fit_in_a_few_hundred_points() -> None:
    until = T0 + timedelta(days=30, seconds=17)  # not on a bucket edge
    since = until - timedelta(days=30)
    width = bucket_width(since, until, 300)
    readings = [(since + timedelta(minutes=i), 90.0 + i % 10) for i in range(30 * 1440)]
    buckets = downsample(readings, width)
    assert len(buckets) <= 301
    assert buckets[0].first == since and buckets[-1].last == readings[-1][0]
    assert sum(b.count for b in buckets) == len(readings)
    assert min(b.min for b in buckets) == 90.0 and max(b.max for b in buckets) == 99.0


def test_epoch_seconds_floor_like_the_databases() -> None:
    assert epoch_seconds(datetime(1970, 1, 1, 0, 0, 1, 999_999, tzinfo=UTC)) == 1
    assert bucket_number(datetime(1970, 1, 1, 1, tzinfo=UTC), 3600) == 1
    with pytest.raises(ValueError):
        epoch_seconds(datetime(2026, 1, 1))  # naive on purpose


@given(st.lists(st.tuples(st.integers(0, 40 * 86400), st.floats(-50, 400)), max_size=300),
       st.sampled_from(NICE_WIDTHS))
def test_buckets_keep_every_reading_and_the_extremes(
        offsets: list[tuple[int, float]], width: int) -> None:
    readings = [(T0 + timedelta(seconds=s), v) for s, v in offsets]
    buckets = downsample(readings, width)
    assert sum(b.count for b in buckets) == len(readings)
    assert [b.start for b in buckets] == sorted({b.start for b in buckets})
    for bucket in buckets:
        assert bucket.min <= bucket.mean + 1e-9 and bucket.mean <= bucket.max + 1e-9
        assert bucket.start <= bucket.first <= bucket.last < bucket.start + timedelta(
            seconds=width)
    if readings:
        assert min(b.min for b in buckets) == min(v for _, v in readings)
        assert max(b.max for b in buckets) == max(v for _, v in readings)
