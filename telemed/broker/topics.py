"""MQTT topic names of the device contract (CONTRACT §3) and the platform's own identities."""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "telemed/v1/devices"
CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
CONTROL_RESPONSE_TOPIC = "$CONTROL/dynamic-security/v1/response"

INGEST_USERNAME = "telemed-ingest"
INGEST_ROLE = "telemed-ingest"
INGEST_SHARE_GROUP = "telemed-ingest"
ALL_READINGS = f"{PREFIX}/+/readings"
ALL_STATUS = f"{PREFIX}/+/status"
ALL_ERRORS = f"{PREFIX}/+/errors"
ALL_CONFIG = f"{PREFIX}/+/config"
SHARED_READINGS = f"$share/{INGEST_SHARE_GROUP}/{ALL_READINGS}"

ONLINE = b"online"
OFFLINE = b"offline"


def device_role(device_id: str) -> str:
    """The dynamic-security role that holds one device's ACLs."""
    return f"device-{device_id}"


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


def device_id_of(topic: str) -> str | None:
    """The device id in a `telemed/v1/devices/{id}/...` topic, or None."""
    parts = topic.split("/")
    if len(parts) == 5 and "/".join(parts[:3]) == PREFIX and parts[3]:
        return parts[3]
    return None
