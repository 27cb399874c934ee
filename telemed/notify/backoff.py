"""When a failed delivery is tried again, and when it is given up (pure rules).

Attempt n (1-based) that failed is retried after ``min(30 s * 2**(n-1), 1 h)``: 30 s, 1 min,
2 min, ... then hourly. Retries go on for at least ``RETRY_FOR`` (24 h) after the notification
was recorded; the first failure after that makes the delivery ``dead``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

FIRST_DELAY: Final = timedelta(seconds=30)
MAX_DELAY: Final = timedelta(hours=1)
RETRY_FOR: Final = timedelta(hours=24)
# A claimed delivery is someone's for this long; a worker that died lets it go after it.
LEASE: Final = timedelta(minutes=2)


def retry_delay(attempts: int) -> timedelta:
    """The pause after the ``attempts``-th failed attempt."""
    exponent = max(0, min(attempts - 1, 20))
    delay: timedelta = FIRST_DELAY * (2 ** exponent)
    return min(delay, MAX_DELAY)


def next_attempt(attempts: int, created_at: datetime, now: datetime) -> datetime | None:
    """When to try again after a failure, or None when the delivery is dead."""
    if now - created_at >= RETRY_FOR:
        return None
    return now + retry_delay(attempts)
