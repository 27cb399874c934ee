"""Packs the device client sends decode back to the same readings (RFC 8428)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from devices.client import build_pack
from devices.profiles import DeviceProfile, Reading
from telemed.domain.senml import decode_pack
from telemed.domain.topics import DeviceTopics

AT = datetime(2026, 3, 2, 8, 0, 0, 250000, tzinfo=UTC)


def test_pack_is_senml_json_with_the_device_urn() -> None:
    pack = build_pack("dev1", [Reading("spo2", 97, "%", AT),
                               Reading("heart_rate", 71, "/min", AT + timedelta(seconds=1))])
    records = json.loads(pack)
    assert records[0]["bn"] == "urn:dev:telemed:dev1:"
    assert records[0]["bt"] == int(AT.timestamp())
    assert [(r["n"], r["u"], r["v"]) for r in records] == [("spo2", "%", 97),
                                                            ("heart_rate", "/min", 71)]
    assert all("bn" not in r for r in records[1:])


def test_pack_round_trips_through_the_platform_decoder() -> None:
    profile = DeviceProfile("multi", seed=1, start=AT - timedelta(days=1),
                            unit_style="alternative")
    readings = profile.measure(AT)
    decoded = decode_pack(build_pack("dev1", readings), received_at=AT + timedelta(seconds=30))
    assert decoded.rejections == []
    assert [r.metric for r in decoded.readings] == [r.metric for r in readings]
    for sent, got in zip(readings, decoded.readings, strict=True):
        assert abs((got.time - sent.time).total_seconds()) < 1e-3


def test_topics_follow_the_contract() -> None:
    topics = DeviceTopics.of("abc")
    assert topics.readings == "telemed/v1/devices/abc/readings"
    assert topics.status == "telemed/v1/devices/abc/status"
    assert topics.config == "telemed/v1/devices/abc/config"
    assert topics.errors == "telemed/v1/devices/abc/errors"
