"""The event bus interface: small on purpose; in-process and Redis backends fit behind it.

An event is a JSON-friendly dict published on a named channel (``alerts``, ``careplans``,
``devices``). Delivery is at-most-once and best effort: a subscriber that cannot keep up
gets ``BusOverflow`` from its iterator and must resynchronise from the database (the alert
stream does so from ``Alert.seq``). Durable state never lives only on the bus.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

Event = dict[str, Any]

# Channels used by the platform.
ALERTS = "alerts"
CAREPLANS = "careplans"
DEVICES = "devices"
CREDENTIALS = "credentials"  # sessions ended: {"user_id", "session_id", "except", "reason"}
ACCESS = "access"  # who may see a patient changed (care team, consent, delegates)


class BusOverflow(Exception):
    """The subscriber fell behind and missed events; resynchronise from durable state."""


class BusUnavailable(Exception):
    """The event was not accepted: the bus (Redis) is unreachable and its buffer is full."""


class Subscription(Protocol):
    """Events of one channel, from the moment ``subscribe`` returned; close when done."""

    def __aiter__(self) -> AsyncIterator[Event]: ...

    async def __anext__(self) -> Event: ...

    async def ready(self, within: float = 5.0) -> bool:
        """Wait until the subscription is effective on the bus (at once in process; with
        Redis, until the server confirmed it); False when `within` seconds passed first."""

    async def close(self) -> None:
        """Stop receiving (the iterator ends)."""


class EventBus(Protocol):
    """Publish/subscribe of JSON-friendly events across the platform's processes."""

    async def publish(self, channel: str, event: Event) -> None:
        """Deliver ``event`` to every current subscriber of ``channel``."""

    def subscribe(self, channel: str) -> Subscription:
        """A subscription registered at once (no event published after this call is missed)."""

    async def close(self) -> None:
        """End every subscription and release resources."""
