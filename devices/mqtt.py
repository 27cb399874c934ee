"""One MQTT connection whose paho client is driven by the asyncio event loop.

The platform's one paho adapter, `telemed.mqtt_loop.PahoLoop`, services the socket from the
loop, so thousands of connections share one thread (it imports nothing of the server).

A connection is used once: after it is lost, make a new one (the device client does).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from telemed.mqtt_loop import PahoLoop

Protocol = Literal["3.1.1", "5"]


class MqttConnectError(Exception):
    """The broker could not be reached or refused the connection."""

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


class NotConnected(Exception):
    """The connection is gone; nothing was sent."""


@dataclass(frozen=True)
class TlsOptions:
    """TLS for `mqtts`: the CA bundle (system one when None); `insecure` skips checks."""

    ca_file: str | None = None
    insecure: bool = False

    def context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


@dataclass(frozen=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass
class Callbacks:
    """What the owner wants to hear about (all called on the event loop)."""

    on_message: Callable[[mqtt.MQTTMessage], None] = lambda message: None
    on_puback: Callable[[int, int], None] = lambda mid, reason_code: None
    on_lost: Callable[[str], None] = lambda reason: None


@dataclass
class _Pending:
    connack: asyncio.Future[ReasonCode] | None = None
    subacks: dict[int, asyncio.Future[list[ReasonCode]]] = field(default_factory=dict)
    pubacks: dict[int, asyncio.Future[None]] = field(default_factory=dict)


class LoopConnection:
    """A single MQTT session serviced by the running loop."""

    def __init__(self, *, client_id: str, username: str, password: str,
                 protocol: Protocol = "3.1.1", tls: TlsOptions | None = None,
                 will: Will | None = None, callbacks: Callbacks | None = None,
                 max_inflight: int = 20) -> None:
        self._loop = asyncio.get_running_loop()
        self.callbacks = callbacks or Callbacks()
        version = mqtt.MQTTv5 if protocol == "5" else mqtt.MQTTv311
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=version,
                                  clean_session=None if protocol == "5" else True)
        self.client.username_pw_set(username, password)
        self.client.max_inflight_messages_set(max_inflight)
        self.client.max_queued_messages_set(0)
        if tls is not None:
            self.client.tls_set_context(tls.context())
            if tls.insecure:
                self.client.tls_insecure_set(True)
        if will is not None:
            self.client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        self.client.suppress_exceptions = True
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish
        self._driver = PahoLoop(self.client, on_message=self._on_message)
        self._pending = _Pending()
        self.connected = False
        self.closed = False

    # Lifecycle --------------------------------------------------------------------------

    async def open(self, host: str, port: int, *, keepalive: int = 60,
                   seconds: float = 10.0) -> None:
        """Connect and wait for a successful CONNACK; MqttConnectError otherwise."""
        self._pending.connack = self._loop.create_future()
        try:
            async with asyncio.timeout(seconds):
                await self._driver.connect(host, port, keepalive)
                code = await self._pending.connack
        except (OSError, ssl.SSLError, ValueError) as exc:
            self.drop()
            raise MqttConnectError(f"cannot connect to {host}:{port}: {exc}") from exc
        except TimeoutError:
            self.drop()
            raise MqttConnectError(f"no answer from {host}:{port} in {seconds:.0f} s") from None
        if code.is_failure:
            self.drop()
            raise MqttConnectError(f"{host}:{port} refused the connection: {code}",
                                   refused=True)
        if not self.connected:  # lost again before we got here
            raise MqttConnectError(f"{host}:{port} closed the connection at once")

    async def close(self) -> None:
        """Send DISCONNECT (the will is not published), then drop the socket."""
        if self.connected:
            self.client.disconnect()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):
                    await self._driver.socket_gone.wait()
        self.drop()

    def drop(self) -> None:
        """Stop servicing the socket and close it (as a lost connection would)."""
        was_connected = self.connected
        self.closed = True
        self.connected = False
        self._driver.stop()
        paho_sock = self.client.socket()
        if paho_sock is not None:
            with contextlib.suppress(OSError):
                paho_sock.close()
        self._fail_pending(NotConnected("connection closed"))
        if was_connected:
            self.callbacks.on_lost("closed")

    # Operations -------------------------------------------------------------------------

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int:
        """Queue a PUBLISH; returns its mid (PUBACK and its reason code arrive through
        `on_puback`; with MQTT 3.1.1 the code is always 0)."""
        if not self.connected:
            raise NotConnected("not connected")
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_QUEUE_SIZE):
            raise NotConnected(mqtt.error_string(info.rc))
        return info.mid

    async def publish_wait(self, topic: str, payload: bytes, *, qos: int = 1,
                           retain: bool = False, seconds: float = 10.0) -> None:
        """Publish and wait for the PUBACK (QoS 1)."""
        mid = self.publish(topic, payload, qos=qos, retain=retain)
        if qos == 0:
            return
        future: asyncio.Future[None] = self._loop.create_future()
        self._pending.pubacks[mid] = future
        async with asyncio.timeout(seconds):
            await future

    async def subscribe(self, topics: list[tuple[str, int]],
                        seconds: float = 10.0) -> list[ReasonCode]:
        """Subscribe and return the broker's granted QoS / refusal per topic."""
        if not self.connected:
            raise NotConnected("not connected")
        rc, mid = self.client.subscribe(topics)
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            raise NotConnected(mqtt.error_string(rc))
        future: asyncio.Future[list[ReasonCode]] = self._loop.create_future()
        self._pending.subacks[mid] = future
        async with asyncio.timeout(seconds):
            return await future

    # paho callbacks (always on the loop: they come from loop_read/loop_write/loop_misc) ---

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any,
                    reason_code: ReasonCode, properties: Any) -> None:
        if not reason_code.is_failure and not self.closed:
            self.connected = True
        future = self._pending.connack
        if future is not None and not future.done():
            future.set_result(reason_code)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any,
                       reason_code: ReasonCode, properties: Any) -> None:
        was_connected = self.connected
        self.connected = False
        self.closed = True
        self._driver.stop()
        self._fail_pending(NotConnected(f"disconnected: {reason_code}"))
        if was_connected:
            self.callbacks.on_lost(str(reason_code))

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int,
                      reason_codes: list[ReasonCode], properties: Any) -> None:
        future = self._pending.subacks.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(reason_codes)

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int,
                    reason_code: ReasonCode, properties: Any) -> None:
        future = self._pending.pubacks.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(None)
        self.callbacks.on_puback(mid, int(reason_code.value))

    def _on_message(self, message: mqtt.MQTTMessage) -> None:
        self.callbacks.on_message(message)

    def _fail_pending(self, error: Exception) -> None:
        pending = self._pending
        futures: list[asyncio.Future[Any]] = [*pending.subacks.values(),
                                              *pending.pubacks.values()]
        if pending.connack is not None:
            futures.append(pending.connack)
        for future in futures:
            if not future.done():
                future.set_exception(error)
                future.exception()  # retrieved: nobody may be waiting any more
        pending.subacks.clear()
        pending.pubacks.clear()
