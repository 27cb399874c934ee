"""Per-connection abuse limits: a token bucket for the frame rate and a strike counter.

Both are pure (the caller passes the time), so they are tested without sleeping.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

MAX_FRAME_BYTES = 64 * 1024  # docs/visits.md: 64 KiB per message
HARD_FRAME_BYTES = 256 * 1024  # aiohttp closes with 1009 above this, before we read it
RATE_PER_SECOND = 30.0  # sustained frames per second per connection
RATE_BURST = 120.0  # a mesh of six renegotiating at once stays well under this
STRIKES_TO_CLOSE = 5  # violations within STRIKE_WINDOW that close the socket with 1008
STRIKE_WINDOW = 60.0
BAD_JSON_TO_CLOSE = 3  # frames that are not JSON before the socket is closed with 1003


@dataclass
class TokenBucket:
    """`rate` tokens per second up to `burst`; one token per frame."""

    rate: float = RATE_PER_SECOND
    burst: float = RATE_BURST
    tokens: float = RATE_BURST
    stamp: float | None = None

    def take(self, now: float) -> bool:
        """Spend one token; False when the bucket is empty (the frame is refused)."""
        if self.stamp is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class Strikes:
    """Violations in a sliding window; `hit` says when it is time to close."""

    limit: int = STRIKES_TO_CLOSE
    window: float = STRIKE_WINDOW
    times: deque[float] = field(default_factory=deque)

    def hit(self, now: float) -> bool:
        """Record one violation; True once `limit` of them fall within `window`."""
        self.times.append(now)
        while self.times and now - self.times[0] > self.window:
            self.times.popleft()
        return len(self.times) >= self.limit


def frame_too_large(text: str, limit: int = MAX_FRAME_BYTES) -> bool:
    """True when the UTF-8 size of a text frame exceeds `limit` (cheap for short frames)."""
    if len(text) * 4 <= limit:
        return False
    return len(text) > limit or len(text.encode()) > limit
