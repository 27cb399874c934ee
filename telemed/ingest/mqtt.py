"""The ingest worker's MQTT client: paho driven from the asyncio loop, nothing blocks it.

- paho is driven by the loop through the platform's one adapter, `telemed.mqtt_loop`
  (reading up to ``MAX_READS_PER_WAKEUP`` packets a wakeup, paused while the writer catches
  up), with its `LightClient`: PUBLISH packets without properties are received without a
  `Properties` object each, and the socket is read 64 KiB at a time.
- MQTT 5, ``clean_start=False`` with a session expiry, a stable client id: a persistent
  session, so what devices publish while the worker is down waits in the broker.
- ``manual_ack=True``: a message is acknowledged only when its batch is committed, and only
  on the connection that received it (after a reconnect the broker redelivers it anyway and
  the unique reading key stores it once).
- Subscriptions are made on every connect (a broker restart without persistence forgets
  them; Mosquitto 2.0 forgets shared ones even with persistence); reconnects back off
  exponentially with jitter, starting fast to keep that window short.
- Retained readings are never taken: the readings filter is subscribed with retain handling 2
  (the broker sends no retained message on subscribing) and any delivery that still carries
  the RETAIN flag on a readings topic (an MQTT 3.1.1 or non-conforming broker, a
  ``retain_as_published`` subscription) is acknowledged and dropped. A device's ``-r``
  publish is stored once, from its live delivery, and not again at every reconnect with a
  new relative time.
- Readings come from the shared subscription of the contract,
  ``$share/telemed-ingest/telemed/v1/devices/+/readings``, or, for a single worker
  (``exclusive``), from the plain filter, which Mosquitto restores after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from telemed.broker.topics import ALL_READINGS, ALL_STATUS, SHARED_READINGS
from telemed.domain.topics import DeviceTopics, device_of
from telemed.mqtt_loop import LightClient, PahoLoop
from telemed.tasks import wait_set

log = logging.getLogger("telemed.ingest.mqtt")

READINGS_FILTER = ALL_READINGS
SHARED_READINGS_FILTER = SHARED_READINGS
STATUS_FILTER = ALL_STATUS
SESSION_EXPIRY = 7 * 24 * 3600  # seconds the broker keeps the session of a stopped worker
RECEIVE_MAXIMUM = 5000  # unacknowledged QoS 1 messages the broker may send us at once
KEEPALIVE = 30
BACKOFF = (0.1, 15.0)
MAX_READS_PER_WAKEUP = 256
MAX_ERRORS_PER_MESSAGE_DEFAULT = 50  # answers on the errors topic for one pack, at most
MAX_INFLIGHT = 1000  # our QoS 1 publishes awaiting their PUBACK, at most (paho queues more)
PUBLISH_WINDOW = 100  # publishes of a bulk send (`publish_paced`) in flight at once


def readings_options() -> SubscribeOptions:
    """QoS 1, no retained message on subscribing, RETAIN flag as delivered (not as published)."""
    return SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND,
                            retainAsPublished=False)


def errors_topic(device_id: str) -> str:
    return DeviceTopics.of(device_id).errors


def config_topic(device_id: str) -> str:
    return DeviceTopics.of(device_id).config


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where and as whom the ingest worker connects."""

    host: str
    port: int
    username: str
    password: str
    tls: bool = False


# (device_id, leaf, payload, received_at, settle) where settle() acknowledges the message
MessageHandler = Callable[[str, str, bytes, datetime, Callable[[], None]], None]


class IngestMqttClient:
    """One MQTT connection of an ingest worker, with reconnection and manual acks."""

    def __init__(self, address: BrokerAddress, client_id: str, handler: MessageHandler, *,
                 shared: bool = True) -> None:
        self._address = address
        self._readings_filter = SHARED_READINGS_FILTER if shared else READINGS_FILTER
        self._client_id = client_id
        self._handler = handler
        self._loop = asyncio.get_running_loop()
        self._client: mqtt.Client | None = None
        self._driver: PahoLoop | None = None
        self._generation = 0
        self._connected = asyncio.Event()
        self._disconnected = asyncio.Event()
        self._published = asyncio.Event()  # set on every PUBACK of ours
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        self._paused = False
        self.connects = 0
        self.retained_dropped = 0
        self.on_connection: Callable[[bool], None] | None = None  # told of every (dis)connect
        self.first_connected_at: float | None = None  # time.monotonic() of the first CONNACK

    # --- public ----------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        self._supervisor = self._loop.create_task(self._supervise(), name="mqtt-ingest")

    async def wait_connected(self, seconds: float) -> bool:
        return await wait_set(self._connected, seconds)

    async def stop(self) -> None:
        self._stopping = True
        client = self._client
        if client is not None and self._connected.is_set():
            client.disconnect()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._disconnected.wait(), 2)
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        self._teardown()

    def set_paused(self, paused: bool) -> None:
        """Stop (or resume) reading from the broker while the writer catches up."""
        self._paused = paused
        if self._driver is not None:
            self._driver.set_paused(paused)

    def publish(self, topic: str, payload: bytes | str, *, qos: int = 1,
                retain: bool = False) -> mqtt.MQTTMessageInfo | None:
        """Publish (queued by paho while disconnected for QoS 1)."""
        client = self._client
        if client is None:
            log.warning("dropping publish to %s: no MQTT client", topic)
            return None
        info = client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            log.warning("publish to %s failed: %s", topic, info.rc)
        return info

    def publish_json(self, topic: str, data: object, *, retain: bool = False) -> None:
        self.publish(topic, json.dumps(data, separators=(",", ":")), retain=retain)

    def answer(self, device_id: str, errors: Sequence[Mapping[str, object]]) -> None:
        """Tell a device on its errors topic why (records of) its pack were refused: at most
        ``MAX_ERRORS_PER_MESSAGE_DEFAULT`` answers, then one saying how many more."""
        topic = errors_topic(device_id)
        for error in errors[:MAX_ERRORS_PER_MESSAGE_DEFAULT]:
            self.publish_json(topic, error)
        if len(errors) > MAX_ERRORS_PER_MESSAGE_DEFAULT:
            self.publish_json(topic, {
                "code": "too_many_errors",
                "message": f"{len(errors) - MAX_ERRORS_PER_MESSAGE_DEFAULT} more records "
                           "of this pack were rejected.",
                "record_index": None})

    async def publish_paced(self, messages: Iterable[tuple[str, str]], *,
                            retain: bool = False, window: int = PUBLISH_WINDOW) -> int:
        """Publish many JSON texts (QoS 1), at most ``window`` awaiting their PUBACK.

        paho walks every message it holds on each PUBACK (to send the next queued one): a
        bulk send of thousands at once (every device's config at start) costs the square of
        their number, on the loop that also drains the readings. Sent a window at a time it
        costs ``window`` per message. While disconnected paho queues them as ``publish``."""
        sent = 0
        waiting: list[mqtt.MQTTMessageInfo] = []
        for topic, text in messages:
            info = self.publish(topic, text, retain=retain)
            sent += 1
            if info is not None:
                waiting.append(info)
            if len(waiting) >= window:
                await self._acknowledged(waiting)
                waiting = []
        return sent

    async def _acknowledged(self, infos: list[mqtt.MQTTMessageInfo]) -> None:
        """Until the broker acknowledged ``infos`` (or the connection is lost: paho keeps
        them for the next one)."""
        while self.connected and not all(info.is_published() for info in infos):
            self._published.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._published.wait(), 1.0)

    # --- connection lifecycle --------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        client = LightClient(CallbackAPIVersion.VERSION2, client_id=self._client_id,
                             protocol=MQTTProtocolVersion.MQTTv5, manual_ack=True,
                             reconnect_on_failure=False)
        client.username_pw_set(self._address.username, self._address.password)
        if self._address.tls:
            client.tls_set_context(ssl.create_default_context())
        client.max_queued_messages_set(0)
        client.max_inflight_messages_set(MAX_INFLIGHT)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_publish = self._on_publish
        return client

    async def _supervise(self) -> None:
        delay = BACKOFF[0]
        while not self._stopping:
            self._disconnected.clear()
            try:
                await self._connect()
            except (OSError, ssl.SSLError) as exc:
                log.warning("MQTT connect to %s:%s failed: %s; retrying in %.1fs",
                            self._address.host, self._address.port, exc, delay)
                self._teardown()
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, BACKOFF[1])
                continue
            await self._disconnected.wait()
            self._lost()
            if self._stopping:
                return
            if self.connects:
                delay = BACKOFF[0]
            self._teardown()
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, BACKOFF[1])

    async def _connect(self) -> None:
        client = self._make_client()
        self._client = client
        self._generation += 1
        driver = PahoLoop(client, on_message=lambda msg: self._on_message(client, None, msg),
                          on_failure=self._disconnected.set,
                          reads_per_wakeup=MAX_READS_PER_WAKEUP, join_acks=True)
        driver.paused = self._paused
        self._driver = driver
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = SESSION_EXPIRY
        props.ReceiveMaximum = RECEIVE_MAXIMUM
        await driver.connect(self._address.host, self._address.port, KEEPALIVE,
                             clean_start=False, properties=props)

    def _teardown(self) -> None:
        if self._driver is not None:
            self._driver.stop()

    def _threadsafe(self, fn: Callable[..., None], *args: Any) -> None:
        if self._driver is not None:
            self._driver.call_on_loop(fn, *args)
        else:
            self._loop.call_soon_threadsafe(fn, *args)

    # --- paho callbacks (on the loop thread, except on_connect's first run) -----------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any,
                    reason: ReasonCode, properties: Any) -> None:
        self._threadsafe(self._connected_cb, client, reason, bool(flags.session_present))

    def _connected_cb(self, client: mqtt.Client, reason: ReasonCode,
                      session_present: bool) -> None:
        if client is not self._client:
            return
        if reason.is_failure:
            log.error("MQTT broker refused the ingest connection: %s", reason)
            self._disconnected.set()
            return
        self.connects += 1
        if self.first_connected_at is None:
            self.first_connected_at = time.monotonic()
        # Resubscribe on every connect: a broker that lost its state must learn them again.
        status_options = SubscribeOptions(qos=1, retainHandling=1)
        client.subscribe([(self._readings_filter, readings_options()),
                          (STATUS_FILTER, status_options)])
        self._connected.set()
        if self.on_connection is not None:
            self.on_connection(True)
        log.info("MQTT ingest connected to %s:%s as %s (session present: %s), reading %s",
                 self._address.host, self._address.port, self._client_id, session_present,
                 self._readings_filter)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int,
                      reasons: list[ReasonCode], properties: Any) -> None:
        if not reasons or not reasons[0].is_failure:
            return
        if self._readings_filter == READINGS_FILTER:
            # The broker refuses the plain filter (ACL): fall back to the shared one.
            log.warning("the broker refused %s (%s); using %s", READINGS_FILTER, reasons[0],
                        SHARED_READINGS_FILTER)
            self._readings_filter = SHARED_READINGS_FILTER
            client.subscribe([(SHARED_READINGS_FILTER, readings_options())])
        else:
            log.error("the broker refused the ingest subscription %s: %s",
                      self._readings_filter, reasons[0])

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode,
                    properties: Any) -> None:
        self._threadsafe(self._published.set)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any,
                       reason: ReasonCode, properties: Any) -> None:
        self._threadsafe(self._disconnected_cb, client, reason)

    def _disconnected_cb(self, client: mqtt.Client, reason: ReasonCode) -> None:
        if client is not self._client:
            return
        self._lost()
        if not self._stopping:
            log.warning("MQTT ingest disconnected: %s", reason)
        self._disconnected.set()

    def _lost(self) -> None:
        if self._connected.is_set():
            self._connected.clear()
            if self.on_connection is not None:
                self.on_connection(False)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        received_at = datetime.now(UTC)
        mid, qos, generation = msg.mid, msg.qos, self._generation

        def settle() -> None:
            if qos > 0 and generation == self._generation and client is self._client:
                client.ack(mid, qos)

        parsed = device_of(msg.topic)
        if parsed is None:
            log.warning("ignoring a message on unexpected topic %r", msg.topic)
            settle()
            return
        device_id, leaf = parsed
        if leaf == "readings" and msg.retain:
            # A retained pack is a stored copy, not a new measurement: its live delivery
            # (RETAIN 0) was taken when it was published.
            self.retained_dropped += 1
            log.info("ignoring a retained readings message of %s", device_id)
            settle()
            return
        try:
            self._handler(device_id, leaf, bytes(msg.payload), received_at, settle)
        except Exception:  # one bad message never stops ingestion
            log.exception("message from %s could not be handed over; dropped", device_id)
            settle()


def default_client_id() -> str:
    """A stable client id for this host's worker."""
    return f"telemed-ingest-{socket.gethostname()}"[:64]
