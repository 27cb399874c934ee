"""What each kind of home device measures (the registry's ``kind``, docs/devices.md).

The missed-measurement rule asks only the devices that measure the missed metric whether
they were up: a dead scale beside a live pulse oximeter means the weight was missed because
the scale is off, not because the patient skipped it. The single-purpose reference devices
(`devices.profiles.KIND_METRICS`) send exactly these metrics; a ``multi`` device (a
multi-parameter monitor or a home gateway) may send any vital sign, so it counts for all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from types import MappingProxyType

from telemed.domain.units import CLINICAL_METRICS

# The kind of the one virtual "device" per patient that manual readings are filed under
# (`telemed.services.manual_readings`): never registered on the broker, never silent, not
# listed among the patient's devices, and it measures nothing for the missed-measurement rule.
MANUAL_KIND = "manual"

KIND_METRICS: Mapping[str, frozenset[str]] = MappingProxyType({
    "bp_cuff": frozenset({"bp_systolic", "bp_diastolic", "heart_rate"}),
    "pulse_oximeter": frozenset({"spo2", "heart_rate"}),
    "scale": frozenset({"body_weight"}),
    "thermometer": frozenset({"body_temp"}),
    "glucometer": frozenset({"blood_glucose"}),
    "multi": frozenset(CLINICAL_METRICS),
})


def measures(kind: str, metric: str) -> bool:
    """Whether a device of ``kind`` measures ``metric`` (an unknown kind measures nothing)."""
    return metric in KIND_METRICS.get(kind, frozenset())


def last_seen_measuring(devices: Iterable[tuple[str, datetime | None]],
                        metric: str) -> datetime | None:
    """The newest ``last_seen`` among the (kind, last_seen) devices that measure ``metric``.

    None when no such device was ever heard from (or the patient has none).
    """
    seen = [last for kind, last in devices if last is not None and measures(kind, metric)]
    return max(seen) if seen else None
