"""Sessions that publish the events of their use cases after the commit.

A use case records what it changed (`record_event(session, AccessChanged(patient_id))`);
the session keeps the events until its transaction ends: a commit publishes them on the
application's bus (`telemed.bus.events.publish_events`), a rollback drops them. Sessions made
without a bus (the command line, the demo seeding) drop them at commit too.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.bus import EventBus
from telemed.bus.events import ChangeEvent, publish_events

PENDING = "telemed.pending_events"
BUS = "telemed.event_bus"


class EventSession(AsyncSession):
    """An AsyncSession whose commit publishes the events recorded on it."""

    async def commit(self) -> None:
        await super().commit()
        events: list[ChangeEvent] = self.info.pop(PENDING, [])
        bus_of: Callable[[], EventBus] | None = self.info.get(BUS)
        if events and bus_of is not None:
            await publish_events(bus_of(), events)

    async def rollback(self) -> None:
        self.info.pop(PENDING, None)
        await super().rollback()


def record_event(session: AsyncSession, event: ChangeEvent) -> None:
    """Publish `event` once the session's transaction commits (never if it rolls back)."""
    session.info.setdefault(PENDING, []).append(event)
