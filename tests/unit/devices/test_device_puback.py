"""The device's reading of MQTT 5 PUBACK reason codes."""

from __future__ import annotations

import pytest

from devices.puback import Verdict, retry_delay, verdict


@pytest.mark.parametrize(("code", "expected"), [
    (0x00, Verdict.DELIVERED),
    (0x10, Verdict.RETRY),  # no matching subscribers: nobody took it
    (0x80, Verdict.RETRY),  # unspecified error
    (0x83, Verdict.RETRY),  # implementation specific error
    (0x91, Verdict.RETRY),  # packet identifier in use
    (0x97, Verdict.RETRY),  # quota exceeded
    (0x87, Verdict.REFUSED),  # not authorized
    (0x90, Verdict.REFUSED),  # topic name invalid
    (0x95, Verdict.REFUSED),  # packet too large
    (0x99, Verdict.REFUSED),  # payload format invalid
])
def test_verdict_per_reason_code(code: int, expected: Verdict) -> None:
    assert verdict(code) is expected


def test_retry_delay_doubles_up_to_the_cap() -> None:
    assert [retry_delay(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0]
    assert retry_delay(0) == 0.5
    assert retry_delay(3, first=1.0, cap=3.0) == 3.0
