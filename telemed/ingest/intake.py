"""What the ingest worker needs of its MQTT side, in this process or in a receiving one."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol


class MqttIntake(Protocol):
    """The worker's MQTT connection: `IngestMqttClient` (inline) or `ReceiverProcess`."""

    first_connected_at: float | None  # time.monotonic() of the first CONNACK

    @property
    def connected(self) -> bool: ...

    def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def wait_connected(self, seconds: float) -> bool: ...

    async def publish_paced(self, messages: Iterable[tuple[str, str]], *,
                            retain: bool = False) -> int:
        """Publish JSON texts (QoS 1) in order, a window at a time; returns how many."""
