"""What a device does with a pack after the broker's PUBACK (MQTT 5 reason codes).

With MQTT 5 the broker says *why* it acknowledged a QoS 1 PUBLISH. "No matching subscribers"
(0x10) means nobody took the pack: the platform's ingest workers are not subscribed at this
moment, for example in the second after a broker restart, before the workers have renewed
their shared subscription (Mosquitto does not restore `$share` subscriptions from its
persistence file). Such a pack stays in the outbox and is sent again later; the platform
stores each reading once however often it arrives. Codes that can never succeed on a resend
(not authorized, bad topic, bad payload, too large) drop the pack so the outbox cannot stall.
With MQTT 3.1.1 a PUBACK carries no code and always means delivered.
"""

from __future__ import annotations

from enum import Enum


class Verdict(Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    REFUSED = "refused"


SUCCESS = 0x00
NO_MATCHING_SUBSCRIBERS = 0x10
REFUSED_CODES = frozenset({
    0x87,  # not authorized
    0x90,  # topic name invalid
    0x95,  # packet too large
    0x99,  # payload format invalid
})


def verdict(reason_code: int) -> Verdict:
    """Delivered on success; refused on a code a resend cannot cure; otherwise retry.

    Retry covers "no matching subscribers", "quota exceeded", "packet identifier in use",
    "unspecified" and "implementation specific" errors: all can pass on a later attempt.
    """
    if reason_code == SUCCESS:
        return Verdict.DELIVERED
    if reason_code in REFUSED_CODES:
        return Verdict.REFUSED
    return Verdict.RETRY


def retry_delay(attempt: int, *, first: float = 0.5, cap: float = 15.0) -> float:
    """Seconds to hold the outbox after the `attempt`-th refusal in a row (1-based)."""
    return min(cap, first * 2.0 ** max(0, attempt - 1))
