"""In-process event bus: one bounded queue per subscription."""

from __future__ import annotations

import asyncio
import logging

from telemed.bus.base import BusOverflow, Event

log = logging.getLogger("telemed.bus")

DEFAULT_QUEUE_SIZE = 10_000
_CLOSED: Event = {"__closed__": True}
_OVERFLOW: Event = {"__overflow__": True}


class MemorySubscription:
    """A registered subscription; iterate it, close it when done."""

    def __init__(self, bus: InProcessBus, channel: str, size: int) -> None:
        self._bus = bus
        self._channel = channel
        self._queue: asyncio.Queue[Event] = asyncio.Queue(size + 1)
        self._overflowed = False
        self._closed = False

    def offer(self, event: Event) -> None:
        if self._overflowed or self._closed:
            return
        if self._queue.qsize() >= self._queue.maxsize - 1:
            self._overflowed = True
            self._queue.put_nowait(_OVERFLOW)
            return
        self._queue.put_nowait(event)

    def __aiter__(self) -> MemorySubscription:
        return self

    async def __anext__(self) -> Event:
        if self._closed and self._queue.empty():
            raise StopAsyncIteration
        event = await self._queue.get()
        if event is _CLOSED:
            self._closed = True
            self._bus.forget(self._channel, self)
            raise StopAsyncIteration
        if event is _OVERFLOW:
            self._closed = True
            self._bus.forget(self._channel, self)
            raise BusOverflow(self._channel)
        return event

    async def ready(self, within: float = 5.0) -> bool:
        return True  # registered when created

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._bus.forget(self._channel, self)
            self._queue.put_nowait(_CLOSED)


class InProcessBus:
    """Events reach the subscribers of this process only (the single-process default)."""

    def __init__(self, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self._queue_size = queue_size
        self._channels: dict[str, set[MemorySubscription]] = {}

    async def publish(self, channel: str, event: Event) -> None:
        for subscription in tuple(self._channels.get(channel, ())):
            subscription.offer(event)

    def subscribe(self, channel: str) -> MemorySubscription:
        subscription = MemorySubscription(self, channel, self._queue_size)
        self._channels.setdefault(channel, set()).add(subscription)
        return subscription

    def forget(self, channel: str, subscription: MemorySubscription) -> None:
        self._channels.get(channel, set()).discard(subscription)

    def subscriber_count(self, channel: str) -> int:
        """How many subscriptions ``channel`` has (for tests and diagnostics)."""
        return len(self._channels.get(channel, ()))

    async def close(self) -> None:
        for subscriptions in list(self._channels.values()):
            for subscription in list(subscriptions):
                await subscription.close()
        self._channels.clear()
