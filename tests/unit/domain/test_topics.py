"""Device topic names of the wire contract."""

from __future__ import annotations

import pytest

from telemed.domain.topics import DeviceTopics, device_of


def test_device_topics() -> None:
    topics = DeviceTopics.of("d1")
    assert topics.as_dict() == {
        "readings": "telemed/v1/devices/d1/readings",
        "status": "telemed/v1/devices/d1/status",
        "config": "telemed/v1/devices/d1/config",
        "errors": "telemed/v1/devices/d1/errors",
    }


@pytest.mark.parametrize(("topic", "expected"), [
    ("telemed/v1/devices/abc/readings", ("abc", "readings")),
    ("telemed/v1/devices/abc/status", ("abc", "status")),
    ("telemed/v1/devices//readings", None),
    ("telemed/v2/devices/abc/readings", None),
    ("telemed/v1/devices/abc/readings/extra", None),
    ("other", None),
])
def test_device_of(topic: str, expected: tuple[str, str] | None) -> None:
    assert device_of(topic) == expected
