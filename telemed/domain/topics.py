"""MQTT topic names of the device wire contract (docs/devices.md), shared by server and devices."""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "telemed/v1/devices"
LEAVES = ("readings", "status", "config", "errors")


@dataclass(frozen=True)
class DeviceTopics:
    """The four topics of one device."""

    readings: str
    status: str
    config: str
    errors: str

    @classmethod
    def of(cls, device_id: str) -> DeviceTopics:
        base = f"{PREFIX}/{device_id}"
        return cls(f"{base}/readings", f"{base}/status", f"{base}/config", f"{base}/errors")

    def as_dict(self) -> dict[str, str]:
        return {"readings": self.readings, "status": self.status, "config": self.config,
                "errors": self.errors}


def device_of(topic: str) -> tuple[str, str] | None:
    """``(device_id, leaf)`` of a `telemed/v1/devices/{id}/{leaf}` topic, else None."""
    parts = topic.split("/")
    if len(parts) != 5 or "/".join(parts[:3]) != PREFIX or not parts[3]:
        return None
    return parts[3], parts[4]
