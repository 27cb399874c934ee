"""The ingest worker's subscriptions and answer topics (parsing: domain/test_topics.py)."""

from __future__ import annotations

from telemed.domain.topics import device_of
from telemed.ingest import mqtt
from telemed.ingest.mqtt import (
    READINGS_FILTER,
    SHARED_READINGS_FILTER,
    config_topic,
    errors_topic,
)


def test_the_worker_parses_topics_with_the_contract_function() -> None:
    assert mqtt.device_of is device_of


def test_contract_topics() -> None:
    assert SHARED_READINGS_FILTER == "$share/telemed-ingest/telemed/v1/devices/+/readings"
    assert READINGS_FILTER == "telemed/v1/devices/+/readings"
    assert errors_topic("d1") == "telemed/v1/devices/d1/errors"
    assert config_topic("d1") == "telemed/v1/devices/d1/config"
