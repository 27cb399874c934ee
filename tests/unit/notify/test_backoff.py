"""Retries: exponential pauses capped at an hour, for at least 24 hours, then dead."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from telemed.notify import backoff

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def test_delays_double_then_cap() -> None:
    delays = [backoff.retry_delay(n) for n in range(1, 10)]
    assert delays[:4] == [timedelta(seconds=s) for s in (30, 60, 120, 240)]
    assert delays[-1] == timedelta(hours=1)
    assert all(a <= b for a, b in itertools.pairwise(delays))
    assert backoff.retry_delay(10_000) == timedelta(hours=1)  # no overflow


def test_retries_last_at_least_a_day_then_dead() -> None:
    now, attempts = T0, 0
    while True:
        attempts += 1
        nxt = backoff.next_attempt(attempts, T0, now)
        if nxt is None:
            break
        now = nxt
    assert now - T0 >= timedelta(hours=24)
    assert now - T0 < timedelta(hours=25, minutes=1)
    assert 20 < attempts < 60


def test_dead_only_after_the_retry_period() -> None:
    assert backoff.next_attempt(50, T0, T0 + timedelta(hours=23, minutes=59)) is not None
    assert backoff.next_attempt(1, T0, T0 + timedelta(hours=24)) is None
