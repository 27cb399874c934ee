"""A home device's MQTT client (docs/devices.md).

- Identity: MQTT username = client id = device id, with the password from registration.
- Readings go out as SenML JSON packs at QoS 1 through an on-disk outbox (`PackBuffer`):
  a pack is stored first and deleted only after the broker's PUBACK, so packs taken while
  the broker is unreachable (or the process restarts) are sent when it is back, in order.
- `status` is `online` (retained) after each connect and `offline` as the retained will,
  and on a clean stop.
- It subscribes to its own `config` (retained schedule) and `errors` on every connect.
- It reconnects by itself with exponential backoff and jitter.
- With MQTT 5 (the default) a PUBACK saying "no matching subscribers" keeps the pack in the
  outbox: the outbox holds for a growing delay, then sends again from its oldest unacknowledged
  pack (`devices/puback.py`). A broker restart therefore loses nothing even while the platform's
  workers are still renewing their shared subscription.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt

from devices.buffer import PackBuffer
from devices.mqtt import (
    Callbacks,
    LoopConnection,
    MqttConnectError,
    NotConnected,
    Protocol,
    TlsOptions,
    Will,
)
from devices.profiles import Reading
from devices.puback import Verdict, retry_delay, verdict
from telemed.domain.senml import encode_pack
from telemed.domain.topics import DeviceTopics

log = logging.getLogger("devices.client")


JsonCallback = Callable[[Any], None]


@dataclass
class DeviceStats:
    connects: int = 0
    published: int = 0
    acked: int = 0
    deferred: int = 0  # PUBACKs saying nobody took the pack (sent again later)
    refused: int = 0  # PUBACKs refusing the pack for good (dropped, logged)
    errors_received: int = 0


def build_pack(device_id: str, readings: Iterable[Reading]) -> bytes:
    """The SenML JSON pack of some readings, named under the device's URN."""
    return encode_pack([r.as_tuple() for r in readings],
                       base_name=f"urn:dev:telemed:{device_id}:")


class DeviceClient:
    """One device's connection, outbox and subscriptions."""

    def __init__(self, device_id: str, password: str, host: str, port: int, *,
                 buffer: PackBuffer, tls: TlsOptions | None = None,
                 protocol: Protocol = "5", keepalive: int = 60, window: int = 20,
                 on_config: JsonCallback | None = None, on_error: JsonCallback | None = None,
                 reconnect_min: float = 0.5, reconnect_max: float = 60.0) -> None:
        self.device_id = device_id
        self.topics = DeviceTopics.of(device_id)
        self.host = host
        self.port = port
        self.buffer = buffer
        self.tls = tls
        self.protocol = protocol
        self.keepalive = keepalive
        self.window = window
        self.on_config = on_config
        self.on_error = on_error
        self.reconnect_min = reconnect_min
        self.reconnect_max = reconnect_max
        self.stats = DeviceStats()
        self.config: Any = None
        self.last_error: str | None = None
        self._password = password
        self._conn: LoopConnection | None = None
        self._connected = asyncio.Event()
        self._lost = asyncio.Event()
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()  # set by the pump when nothing is left to deliver
        self._drain_waiters = 0
        self._inflight: dict[int, int] = {}  # mid -> buffer row id
        self._acked: list[int] = []
        self._sent_upto = 0
        self._retry_from: int | None = None  # oldest row a PUBACK asked to send again
        self._retries = 0  # holds in a row
        self._hold_until = 0.0  # loop time before which nothing is published
        self._tasks: list[asyncio.Task[None]] = []

    def __repr__(self) -> str:
        return f"DeviceClient({self.device_id!r}, {self.host}:{self.port})"

    @property
    def connected(self) -> bool:
        return self._conn is not None and self._conn.connected

    # Lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start connecting (in the background) and sending what the outbox holds."""
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self._keep_connected(), name=f"device-{self.device_id}-conn"),
            asyncio.create_task(self._pump(), name=f"device-{self.device_id}-pump"),
        ]

    async def close(self, *, say_offline: bool = True) -> None:
        """Stop: publish `offline`, disconnect cleanly; unsent packs stay in the outbox."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        conn, self._conn = self._conn, None
        if conn is not None:
            if say_offline and conn.connected:
                with contextlib.suppress(NotConnected, TimeoutError):
                    await conn.publish_wait(self.topics.status, b"offline", retain=True,
                                            seconds=2)
            await conn.close()
        self._connected.clear()
        await self._flush_acked()

    def kill(self) -> None:
        """Drop the connection without a goodbye (the broker publishes the will)."""
        if self._conn is not None:
            self._conn.drop()

    async def wait_connected(self, seconds: float = 10.0) -> None:
        async with asyncio.timeout(seconds):
            await self._connected.wait()

    async def wait_delivered(self, seconds: float = 10.0) -> None:
        """Wait until everything in this device's outbox has been acknowledged."""
        self._drain_waiters += 1
        try:
            async with asyncio.timeout(seconds):
                self._drained.clear()
                self._wake.set()
                await self._drained.wait()
        finally:
            self._drain_waiters -= 1

    # Sending ----------------------------------------------------------------------------

    async def send(self, readings: Iterable[Reading]) -> None:
        """Store a pack of readings in the outbox; it is published as soon as possible."""
        await self.send_pack(build_pack(self.device_id, readings))

    async def send_pack(self, payload: bytes) -> None:
        """Store an already encoded SenML pack in the outbox.

        Once this is called the pack is queued for the disk even if the caller is cancelled
        while waiting; the pump is woken either way.
        """
        try:
            await self.buffer.add(self.device_id, payload)
        finally:
            self._wake.set()

    # Connection -------------------------------------------------------------------------

    def _connection(self) -> LoopConnection:
        return LoopConnection(
            client_id=self.device_id, username=self.device_id, password=self._password,
            protocol=self.protocol, tls=self.tls,
            will=Will(self.topics.status, b"offline", qos=1, retain=True),
            callbacks=Callbacks(on_message=self._on_message, on_puback=self._on_puback,
                                on_lost=self._on_lost),
            max_inflight=self.window)

    async def _keep_connected(self) -> None:
        delay = self.reconnect_min
        while True:
            conn = self._connection()
            self._lost.clear()
            try:
                await conn.open(self.host, self.port, keepalive=self.keepalive)
                await conn.publish_wait(self.topics.status, b"online", retain=True)
                await conn.subscribe([(self.topics.config, 1), (self.topics.errors, 1)])
            except asyncio.CancelledError:
                conn.drop()  # the broker publishes the `offline` will
                raise
            except (MqttConnectError, NotConnected, TimeoutError) as exc:
                conn.drop()
                self.last_error = str(exc)
                log.debug("%s: %s; retrying in %.1f s", self.device_id, exc, delay)
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, self.reconnect_max)
                continue
            delay = self.reconnect_min
            self.last_error = None
            self.stats.connects += 1
            self._inflight.clear()
            self._sent_upto = 0
            self._retry_from = None
            self._conn = conn
            self._connected.set()
            self._wake.set()
            await self._lost.wait()
            self._connected.clear()
            self._conn = None
            self._inflight.clear()
            self._sent_upto = 0
            conn.drop()
            await asyncio.sleep(self.reconnect_min * random.random())

    def _on_lost(self, reason: str) -> None:
        log.debug("%s: connection lost (%s)", self.device_id, reason)
        self._lost.set()

    # Outbox pump ------------------------------------------------------------------------

    async def _pump(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._flush_acked()
            conn = self._conn
            if conn is None or not conn.connected or not self._ready_to_send():
                continue
            room = self.window - len(self._inflight)
            if room <= 0:
                continue
            packs = await self.buffer.pending(self.device_id, after=self._sent_upto,
                                              limit=room)
            if conn is not self._conn or not conn.connected:
                continue
            if (self._drain_waiters and not packs and not self._inflight and not self._acked
                    and not await self.buffer.count(self.device_id)):
                self._drained.set()
            for pack in packs:
                try:
                    mid = conn.publish(self.topics.readings, pack.payload, qos=1)
                except NotConnected:
                    break
                self._inflight[mid] = pack.id
                self._sent_upto = pack.id
                self.stats.published += 1

    def _ready_to_send(self) -> bool:
        """False while holding after "no matching subscribers"; then rewind to resend."""
        if asyncio.get_running_loop().time() < self._hold_until:
            return False
        if self._retry_from is not None:
            if self._inflight:  # wait for every answer of the round before rewinding
                return False
            self._sent_upto = min(self._sent_upto, self._retry_from - 1)
            self._retry_from = None
        return True

    def _on_puback(self, mid: int, reason_code: int) -> None:
        row = self._inflight.pop(mid, None)
        if row is None:
            return
        outcome = verdict(reason_code)
        if outcome is Verdict.RETRY:
            self.stats.deferred += 1
            self._retry_from = row if self._retry_from is None else min(self._retry_from, row)
            loop = asyncio.get_running_loop()
            if loop.time() >= self._hold_until:  # one longer hold per round, not per pack
                self._retries += 1
                delay = retry_delay(self._retries) * (0.75 + random.random() / 2)
                self._hold_until = loop.time() + delay
                loop.call_later(delay, self._wake.set)
                log.info("%s: the broker had no taker for a pack (code 0x%02x); sending "
                         "again in %.1f s", self.device_id, reason_code, delay)
            self._wake.set()
            return
        if outcome is Verdict.REFUSED:
            self.stats.refused += 1
            log.error("%s: the broker refused a pack for good (code 0x%02x); dropping it",
                      self.device_id, reason_code)
        else:
            self._retries = 0
            self.stats.acked += 1
        self._acked.append(row)
        self._wake.set()

    async def _flush_acked(self) -> None:
        if self._acked:
            done, self._acked = self._acked, []
            await self.buffer.remove(done)

    # Incoming ---------------------------------------------------------------------------

    def _on_message(self, message: mqtt.MQTTMessage) -> None:
        try:
            body = json.loads(message.payload) if message.payload else None
        except ValueError:
            log.warning("%s: ignoring a non-JSON message on %s", self.device_id, message.topic)
            return
        callback: JsonCallback | None = None
        if message.topic == self.topics.config:
            self.config = body
            callback = self.on_config
        elif message.topic == self.topics.errors:
            self.stats.errors_received += 1
            log.info("%s: the platform rejected data: %s", self.device_id, body)
            callback = self.on_error
        if callback is not None:
            try:
                callback(body)
            except Exception:
                log.exception("%s: callback for %s failed", self.device_id, message.topic)
