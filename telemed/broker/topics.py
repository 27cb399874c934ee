"""MQTT topic names of the device contract (docs/devices.md) and the platform's own identities."""

from __future__ import annotations

from telemed.domain.topics import PREFIX, DeviceTopics, device_of

__all__ = ["PREFIX", "DeviceTopics", "device_id_of"]

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


def device_id_of(topic: str) -> str | None:
    """The device id in a `telemed/v1/devices/{id}/...` topic, or None."""
    parsed = device_of(topic)
    return parsed[0] if parsed else None
