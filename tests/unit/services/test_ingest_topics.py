"""Topic parsing of the ingest worker."""

from __future__ import annotations

import pytest

from telemed.ingest.mqtt import (
    READINGS_FILTER,
    SHARED_READINGS_FILTER,
    config_topic,
    device_of,
    errors_topic,
)


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


def test_contract_topics() -> None:
    assert SHARED_READINGS_FILTER == "$share/telemed-ingest/telemed/v1/devices/+/readings"
    assert READINGS_FILTER == "telemed/v1/devices/+/readings"
    assert errors_topic("d1") == "telemed/v1/devices/d1/errors"
    assert config_topic("d1") == "telemed/v1/devices/d1/config"
