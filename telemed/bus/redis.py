"""Redis pub/sub event bus: events reach the subscribers of every process sharing the Redis.

One `RedisBus` per process holds two Redis connections:

- a *reader*: one pub/sub connection subscribed to the channels this process has local
  subscribers for; each event read is fanned out to the local subscriptions (bounded
  queues, `BusOverflow` when one falls behind, exactly like the in-process bus);
- a *writer*: `publish` puts the event in a bounded FIFO buffer and one writer task sends
  the buffer in order (pipelined). Events published by one process therefore reach every
  subscriber in the order they were published.

Redis restarts and network drops:
- the reader reconnects with exponential backoff (0.1 s doubling to 5 s) and subscribes
  again to every channel; subscriptions are *not* ended, their iterators simply carry on
  with the events published after the reconnection. Events published by other processes
  while this reader was disconnected are not delivered (at-most-once, as documented in
  `base.py`): durable state lives in the database and consumers resynchronise from it
  (the alert stream does so from `Alert.seq` when a client reconnects);
- the writer keeps the unsent events (at most `max_pending`, default 10,000) and retries
  with the same backoff; they are sent, in order, once Redis is back. When the buffer is
  full, `publish` raises `BusUnavailable` at once: the caller learns the event was not
  accepted (nothing is dropped silently).

Channel names are prefixed (`prefix`, default `telemed:`), so several deployments or tests
can share one Redis. `RedisLeases` (owner leases, used by cross-process signalling) uses
the same client and prefix.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError

from telemed.bus.base import BusUnavailable, Event
from telemed.bus.memory import DEFAULT_QUEUE_SIZE, InProcessBus, MemorySubscription
from telemed.tasks import cancel_and_wait

log = logging.getLogger("telemed.bus")

__all__ = ["BusUnavailable", "RedisBus", "RedisLeases", "RedisSubscription"]

DEFAULT_PREFIX = "telemed:"
DEFAULT_MAX_PENDING = 10_000
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 5.0
POLL_SECONDS = 0.05  # the reader applies (un)subscriptions between reads this often
PUBLISH_BATCH = 500


def _backoff(delay: float) -> float:
    return min(BACKOFF_MAX, delay * 2)


class RedisSubscription(MemorySubscription):
    """A local subscription fed by the process's Redis reader."""

    def __init__(self, bus: _Fanout, channel: str, size: int) -> None:
        super().__init__(bus, channel, size)
        self._owner = bus.owner
        self.channel = channel

    async def ready(self, within: float = 5.0) -> bool:
        """Wait until Redis confirmed the channel's subscription; False after `within` s."""
        return await self._owner.wait_subscribed(self.channel, within)


class _Fanout(InProcessBus):
    """The local subscriptions of a `RedisBus`, told when a channel gains or loses its last."""

    def __init__(self, owner: RedisBus, queue_size: int) -> None:
        super().__init__(queue_size)
        self.owner = owner

    def subscribe(self, channel: str) -> RedisSubscription:
        subscription = RedisSubscription(self, channel, self._queue_size)
        self._channels.setdefault(channel, set()).add(subscription)
        self.owner.wanted_changed()
        return subscription

    def forget(self, channel: str, subscription: MemorySubscription) -> None:
        super().forget(channel, subscription)
        if not self._channels.get(channel):
            self._channels.pop(channel, None)
            self.owner.wanted_changed()

    def channels(self) -> set[str]:
        return {name for name, subs in self._channels.items() if subs}


class RedisBus:
    """The event bus of a multi-process deployment (`TELEMED_REDIS_URL`)."""

    def __init__(self, url: str, *, prefix: str = DEFAULT_PREFIX,
                 queue_size: int = DEFAULT_QUEUE_SIZE,
                 max_pending: int = DEFAULT_MAX_PENDING) -> None:
        self.url = url
        self.prefix = prefix
        self.max_pending = max_pending
        # Few, quick retries inside redis-py: the reader and the writer do the patient ones.
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            url, socket_connect_timeout=2, socket_keepalive=True, health_check_interval=15,
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 2))
        self._fanout = _Fanout(self, queue_size)
        self._pending: deque[tuple[str, bytes]] = deque()
        self._has_pending = asyncio.Event()
        self._drained = asyncio.Event()  # set whenever the buffer became empty
        self._wanted_changed = asyncio.Event()
        self._subscribed: set[str] = set()  # confirmed on the current reader connection
        self._subscribed_changed = asyncio.Event()
        self.reader_connected = False
        self.writer_connected = False
        self.reconnects = 0  # reader reconnections (for tests and diagnostics)
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    # Lifetime ------------------------------------------------------------------

    async def start(self) -> None:
        """Start the reader and the writer tasks (they retry until Redis is reachable)."""
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._read(), name="redis-bus-reader"),
                       loop.create_task(self._write(), name="redis-bus-writer")]

    async def close(self, flush_timeout: float = 2.0) -> None:
        """End every subscription, send what is buffered (briefly), release the connections."""
        if self._closed:
            return
        self._closed = True
        await self._fanout.close()
        if self._pending and self.writer_connected:
            self._drained.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(flush_timeout):
                    await self._drained.wait()
        await cancel_and_wait(self._tasks)
        self._tasks = []
        await self.client.aclose()

    # The EventBus interface ---------------------------------------------------------

    async def publish(self, channel: str, event: Event) -> None:
        """Queue `event` for every subscriber of `channel` in every process (in order)."""
        if self._closed:
            raise BusUnavailable("the event bus is closed")
        if len(self._pending) >= self.max_pending:
            raise BusUnavailable(
                f"Redis is unreachable and {self.max_pending} events wait to be published; "
                f"the event on {channel!r} was not accepted")
        payload = json.dumps(event, separators=(",", ":"), default=str).encode()
        self._pending.append((self.prefix + channel, payload))
        self._has_pending.set()

    def subscribe(self, channel: str) -> RedisSubscription:
        """A local subscription at once; `await sub.ready()` waits for Redis to confirm it."""
        return self._fanout.subscribe(channel)

    # Diagnostics -----------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Events accepted but not yet sent to Redis."""
        return len(self._pending)

    def subscriber_count(self, channel: str) -> int:
        return self._fanout.subscriber_count(channel)

    async def ping(self, within: float = 1.0) -> bool:
        """True when Redis answers and the reader is connected (the `bus` readiness check)."""
        try:
            async with asyncio.timeout(within):
                await self.client.ping()
        except (RedisError, OSError, TimeoutError):
            return False
        return self.reader_connected

    def leases(self) -> RedisLeases:
        return RedisLeases(self.client, self.prefix)

    # Reader ------------------------------------------------------------------------------

    def wanted_changed(self) -> None:
        self._wanted_changed.set()

    async def wait_subscribed(self, channel: str, within: float) -> bool:
        try:
            async with asyncio.timeout(within):
                while (self.prefix + channel) not in self._subscribed:
                    self._subscribed_changed.clear()
                    await self._subscribed_changed.wait()
        except TimeoutError:
            return False
        return True

    def _note_subscribed(self) -> None:
        self._subscribed_changed.set()

    async def _read(self) -> None:
        delay = BACKOFF_FIRST
        while True:
            # Typed as Any: redis' PubSub annotations differ between releases.
            pubsub: Any = self.client.pubsub()
            try:
                await pubsub.connect()
                await self._serve(pubsub)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self.reader_connected:
                    log.warning("event bus lost Redis (%s); reconnecting", exc)
                    self.reconnects += 1
                    delay = BACKOFF_FIRST
                self.reader_connected = False
                self._subscribed.clear()
                self._note_subscribed()
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = _backoff(delay)

    async def _serve(self, pubsub: Any) -> None:
        """Subscribe to the wanted channels, then read and fan out until the connection drops."""
        current: set[str] = set()
        self._subscribed.clear()
        while True:
            wanted = {self.prefix + name for name in self._fanout.channels()}
            self._wanted_changed.clear()
            added, removed = wanted - current, current - wanted
            if added:
                await pubsub.subscribe(*sorted(added))
            if removed:
                await pubsub.unsubscribe(*sorted(removed))
                self._subscribed.difference_update(removed)
            current = wanted
            self.reader_connected = True
            if not current:
                # Nothing to read: wait for a subscriber (a dead Redis is noticed then).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await self._wanted_changed.wait()
                continue
            message = await pubsub.get_message(timeout=POLL_SECONDS)
            while message is not None:
                self._dispatch(message)
                message = await pubsub.get_message(timeout=0)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        raw_channel = message.get("channel")
        channel = raw_channel.decode() if isinstance(raw_channel, bytes) else str(raw_channel)
        if kind == "subscribe":
            self._subscribed.add(channel)
            self._note_subscribed()
            return
        if kind != "message" or not channel.startswith(self.prefix):
            return
        try:
            event = json.loads(message["data"])
        except (ValueError, TypeError):
            log.warning("event bus: dropped a malformed event on %s", channel)
            return
        if isinstance(event, dict):
            for subscription in tuple(self._fanout._channels.get(channel[len(self.prefix):], ())):
                subscription.offer(cast(Event, event))

    # Writer ------------------------------------------------------------------------------

    async def _write(self) -> None:
        delay = BACKOFF_FIRST
        while True:
            if not self._pending:
                self._drained.set()
                self._has_pending.clear()
                await self._has_pending.wait()
                continue
            batch = [self._pending[i] for i in range(min(PUBLISH_BATCH, len(self._pending)))]
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    for channel, payload in batch:
                        pipe.publish(channel, payload)
                    await pipe.execute()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self.writer_connected:
                    log.warning("event bus cannot publish (%s); %d events wait",
                                exc, len(self._pending))
                self.writer_connected = False
                await asyncio.sleep(delay)
                delay = _backoff(delay)
                continue
            for _ in batch:
                self._pending.popleft()
            self.writer_connected = True
            delay = BACKOFF_FIRST


_CLAIM = """
local current = redis.call('GET', KEYS[1])
if current == false or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ARGV[1]
end
return current
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisLeases:
    """Named leases with expiry: who owns a key (e.g. which process holds a visit's room)."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix

    async def claim(self, name: str, holder: str, ttl_ms: int) -> str:
        """Take or renew the lease for `holder`; return who holds it now."""
        result = await self._client.eval(_CLAIM, 1, f"{self._prefix}lease:{name}", holder,
                                         str(ttl_ms))
        return result.decode() if isinstance(result, bytes) else str(result)

    async def release(self, name: str, holder: str) -> None:
        """Give the lease up if `holder` has it."""
        await self._client.eval(_RELEASE, 1, f"{self._prefix}lease:{name}",
                                holder)
