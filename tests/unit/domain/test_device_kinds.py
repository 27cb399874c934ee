"""Which device kinds measure which metric (missed-measurement classification)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from devices.profiles import KIND_METRICS as REFERENCE_DEVICES
from telemed.domain.device_kinds import KIND_METRICS, last_seen_measuring, measures
from telemed.services.devices import KINDS

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)


def test_every_registrable_kind_is_known_and_covers_what_the_reference_device_sends() -> None:
    assert set(KIND_METRICS) == set(KINDS)
    for kind, metrics in REFERENCE_DEVICES.items():
        assert set(metrics) <= KIND_METRICS[kind], kind


def test_only_devices_measuring_the_metric_count() -> None:
    devices = [("pulse_oximeter", T0), ("scale", T0 - timedelta(days=3)), ("bp_cuff", None)]
    assert last_seen_measuring(devices, "body_weight") == T0 - timedelta(days=3)
    assert last_seen_measuring(devices, "spo2") == T0
    assert last_seen_measuring(devices, "heart_rate") == T0  # oximeter and (silent) cuff
    assert last_seen_measuring(devices, "blood_glucose") is None  # no glucometer at all
    assert last_seen_measuring([("multi", T0)], "body_weight") == T0
    assert not measures("scale", "spo2") and not measures("toaster", "spo2")
