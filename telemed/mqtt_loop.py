"""One paho MQTT client driven by the running asyncio loop: the platform's one adapter.

The socket is watched with `add_reader`/`add_writer` and keep-alives run from a 1 s
`loop_misc` timer (the Home Assistant pattern), so nothing blocks the loop and no paho thread
runs. Only the TCP (and TLS) connect runs in the default executor, because it blocks; the
socket callbacks paho fires there are handed to the loop with `call_soon_threadsafe`. Every
paho callback (`on_connect`, `on_message`, ...) therefore runs on the loop.

Each use configures it: the ingest worker reads up to `reads_per_wakeup` packets a wakeup and
pauses reading while its writer catches up; the device client and the dynamic-security admin
connection read one packet at a time. The owner keeps its own protocol (MQTT 5 or 3.1.1,
acknowledgements, reconnection policy) and sets paho's message and connection callbacks.

It imports nothing of Telemed, so the home-device side (`devices/`) uses it as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

MISC_INTERVAL = 1.0  # seconds between two `loop_misc` calls (keep-alive, retries)
PUBACK = 0x40  # MQTT control packet type, high nibble

# What a received PUBLISH without properties carries instead of objects of its own (see
# `LightClient`): nobody changes a received message's properties or delivery info.
NO_PROPERTIES = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
RECEIVED_INFO = mqtt.MQTTMessageInfo(0)
RECV_SIZE = 65536  # bytes `LightClient` asks the socket for at once


class LightClient(mqtt.Client):
    """paho's client, receiving MQTT 5 PUBLISH packets without objects per message.

    paho decodes every MQTT 5 PUBLISH into a new `Properties` (two dictionaries of the
    protocol's property names built for each one) and gives each message a delivery-info
    object with its own condition variable; at thousands of messages a second that is most of
    what receiving costs. A PUBLISH at QoS 0 or 1 with no properties (what devices send) is
    built here with the shared empty `NO_PROPERTIES` and `RECEIVED_INFO`: the same topic, mid,
    QoS, flags, payload and callbacks, and the same acknowledgement rule (``manual_ack``: the
    owner acks; otherwise PUBACK at once). Anything else (properties present, QoS 2, MQTT
    3.1.1, a short packet, paho's logging on) goes through paho's own code.

    It also reads the socket ``RECV_SIZE`` bytes at a time: paho asks for one byte of
    command, one per length byte, then the rest (three or four system calls a message) and
    is now served from what one call returned. `buffered` says how much is waiting there:
    the socket no longer tells (`PahoLoop` reads on while any is).

    It overrides paho's private methods (``_handle_publish``, ``_sock_recv``), so setup.cfg
    pins paho-mqtt to one minor version; tests/unit/core/test_mqtt_light_client.py compares it
    field by field and byte by byte with paho's own client: run it before moving the pin."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._received = b""
        self._taken = 0

    @property
    def buffered(self) -> int:
        """Bytes received from the socket that paho has not read yet."""
        return len(self._received) - self._taken

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """Read one packet (paho reads one per message it is still publishing: with a bulk
        send in flight, hundreds a call, and `PahoLoop` could not hand the loop back)."""
        if self._sock is None:
            return MQTTErrorCode.MQTT_ERR_NO_CONN
        rc = self._packet_read()
        if rc > 0:
            return self._loop_rc_handle(rc)
        return MQTTErrorCode.MQTT_ERR_SUCCESS  # read one, or nothing waiting (AGAIN)

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._taken >= len(self._received):
            data = super()._sock_recv(max(bufsize, RECV_SIZE))  # BlockingIOError: none
            if len(data) <= bufsize:  # all of it asked for (b"": the connection closed)
                return data
            self._received, self._taken = data, 0
        start = self._taken
        self._taken = min(start + bufsize, len(self._received))
        return self._received[start:self._taken]

    def _sock_close(self) -> None:
        self._received, self._taken = b"", 0  # what a closed connection left is not read
        super()._sock_close()

    def _handle_publish(self) -> MQTTErrorCode:
        header: int = self._in_packet["command"]
        packet: bytes | bytearray = self._in_packet["packet"]
        qos = (header & 0x06) >> 1
        start = 2 + (packet[0] << 8 | packet[1]) if len(packet) >= 2 else len(packet)
        pos = start + (2 if qos else 0)
        if (qos > 1 or self._protocol != MQTTProtocolVersion.MQTTv5 or pos >= len(packet)
                or packet[pos] != 0 or self.on_log is not None or self._logger is not None):
            return super()._handle_publish()
        message = mqtt.MQTTMessage.__new__(mqtt.MQTTMessage)
        message.timestamp = mqtt.time_func()
        message.state = mqtt.mqtt_ms_invalid
        message.dup = bool(header & 0x08)
        message.mid = packet[start] << 8 | packet[start + 1] if qos else 0
        message._topic = bytes(packet[2:start])
        message.qos = qos
        message.retain = bool(header & 0x01)
        message.info = RECEIVED_INFO
        message.properties = NO_PROPERTIES
        message.payload = bytes(packet[pos + 1:])
        self._handle_on_message(message)
        if qos == 0 or self._manual_ack:
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        return self._send_puback(message.mid)


def coalesce_acks(queue: Any) -> None:
    """Join each run of waiting PUBACKs of paho's outgoing packet queue into one packet.

    paho writes every queued packet with its own ``send``: a batch that settles 170
    messages makes 170 system calls of four bytes (and on loopback the broker's receive
    path runs inside each). Joined, they go out in one. Only whole, unsent PUBACKs are
    joined, in their order; anything else (a PUBLISH, a partly written packet) stays as
    it is. ``queue`` is paho's ``Client._out_packet`` (a deque of dicts); another shape is
    left alone."""
    if not isinstance(queue, deque) or len(queue) < 2:
        return
    out: list[Any] = []
    run: list[bytes] = []
    for packet in queue:
        if (isinstance(packet, dict) and packet.get("command") == PUBACK
                and packet.get("pos") == 0 and packet.get("info") is None):
            run.append(bytes(packet["packet"]))
            continue
        _flush(run, out)
        out.append(packet)
    _flush(run, out)
    if len(out) < len(queue):
        queue.clear()
        queue.extend(out)


def _flush(run: list[bytes], out: list[Any]) -> None:
    if run:
        data = b"".join(run)
        out.append({"command": PUBACK, "mid": 0, "qos": 0, "pos": 0, "to_process": len(data),
                    "packet": data, "info": None})
        run.clear()


def _nothing() -> None:
    return None


class PahoLoop:
    """Services one paho client's socket from the running loop (create it on the loop)."""

    def __init__(self, client: mqtt.Client, *, on_message: Callable[[mqtt.MQTTMessage], None],
                 on_failure: Callable[[], None] = _nothing, reads_per_wakeup: int = 1,
                 join_acks: bool = False) -> None:
        self.client = client
        self.loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._on_message = on_message
        self._on_failure = on_failure
        self._reads = reads_per_wakeup
        self._join_acks = join_acks  # `coalesce_acks` before each write (manual acks)
        self._sock: Any = None
        self._misc: asyncio.TimerHandle | None = None
        self._again: asyncio.Handle | None = None  # a turn due for bytes the client holds
        self._writing = False
        self.paused = False
        self.closed = False
        self.received = 0
        self.socket_gone = asyncio.Event()
        client.on_message = self._message
        client.on_socket_open = self._socket_open
        client.on_socket_close = self._socket_close
        client.on_socket_register_write = self._register_write
        client.on_socket_unregister_write = self._unregister_write

    async def connect(self, host: str, port: int, keepalive: int, **options: Any) -> None:
        """Open the TCP (and TLS) connection and send CONNECT, off the loop; the CONNACK
        arrives through paho's `on_connect`, on the loop."""
        await self.loop.run_in_executor(
            None, lambda: self.client.connect(host, port, keepalive, **options))

    def set_paused(self, paused: bool) -> None:
        """Stop (or resume) reading from the socket; incoming data waits in the kernel."""
        self.paused = paused
        sock = self._sock
        if sock is None or self.closed:
            return
        if paused:
            with contextlib.suppress(ValueError, OSError):
                self.loop.remove_reader(sock)
        else:
            self.loop.add_reader(sock, self._read)
            self.loop.call_soon(self._read)  # data may have arrived meanwhile

    def stop(self) -> None:
        """Stop servicing the client: no more reads, writes or keep-alives (the socket stays
        open; the owner closes or abandons it)."""
        self.closed = True
        if self._again is not None:
            self._again.cancel()
            self._again = None
        if self._misc is not None:
            self._misc.cancel()
            self._misc = None
        if self._sock is not None:  # still ours until paho closes it (`socket_gone`)
            self._unwatch(self._sock)

    # Socket callbacks (the loop, or the executor thread during connect) ------------------

    def call_on_loop(self, callback: Callable[..., None], *args: Any) -> None:
        """Run `callback` on the loop: at once when called there, else handed over."""
        if threading.get_ident() == self._loop_thread:
            callback(*args)
        else:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                self.loop.call_soon_threadsafe(callback, *args)

    def _socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self.call_on_loop(self._watch, sock)

    def _socket_close(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        # paho closes the socket right after this returns: stop watching it now.
        self._unwatch(sock)
        if sock is self._sock:
            self._sock = None
            if self._misc is not None:  # no keep-alive without a socket (a reconnect starts it)
                self._misc.cancel()
                self._misc = None
            self.socket_gone.set()

    def _register_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self.call_on_loop(self._watch_write, sock)

    def _unregister_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self.call_on_loop(self._unwatch_write, sock)

    def _watch(self, sock: Any) -> None:
        if self.closed:  # given up on while the executor was still connecting
            with contextlib.suppress(OSError):
                sock.close()
            return
        if sock.fileno() < 0:
            return
        self._sock = sock
        self.socket_gone.clear()
        if not self.paused:
            self.loop.add_reader(sock, self._read)
        if self._misc is None:
            self._misc = self.loop.call_later(MISC_INTERVAL, self._tick)

    def _unwatch(self, sock: Any) -> None:
        self._writing = False
        with contextlib.suppress(ValueError, OSError):
            self.loop.remove_reader(sock)
        with contextlib.suppress(ValueError, OSError):
            self.loop.remove_writer(sock)

    def _watch_write(self, sock: Any) -> None:
        if not self.closed and not self._writing and sock.fileno() >= 0:
            self._writing = True
            self.loop.add_writer(sock, self._write)

    def _unwatch_write(self, sock: Any) -> None:
        self._writing = False
        with contextlib.suppress(ValueError, OSError):
            self.loop.remove_writer(sock)

    # Servicing (on the loop) ----------------------------------------------------------------

    def _message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.received += 1
        self._on_message(message)

    def _buffered(self) -> int:
        """Bytes the client read from the socket and holds (`LightClient`; 0 for others)."""
        return int(getattr(self.client, "buffered", 0))

    def _read(self) -> None:
        """The socket is readable (or reading resumes)."""
        if self._again is None:  # else the turn already due reads: one turn a loop pass
            self._read_turn()

    def _read_again(self) -> None:
        self._again = None
        self._read_turn()

    def _read_turn(self) -> None:
        # At most `_reads` messages a turn, then the loop's other work (a batch to write, a
        # frame to send); `LightClient.loop_read` reads one packet a call. Bytes the client
        # still holds get one more turn on the next pass, never a second one beside the
        # socket's: turns scheduled for both would add up pass after pass.
        start = self.received
        for _ in range(self._reads):
            if self.paused or self.closed:
                return
            before = self.received
            if self.client.loop_read() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                self._on_failure()
                return
            if self.received == before and not self._buffered():
                return
            if self.received - start >= self._reads:
                break
        if self._buffered():  # the socket may stay quiet: read the rest on the next pass
            self._again = self.loop.call_soon(self._read_again)

    def _write(self) -> None:
        if self._join_acks:
            coalesce_acks(getattr(self.client, "_out_packet", None))
        rc = self.client.loop_write()
        if rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_AGAIN):
            self._on_failure()

    def _tick(self) -> None:
        self._misc = None
        if self.closed:
            return
        if self.client.loop_misc() == MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._misc = self.loop.call_later(MISC_INTERVAL, self._tick)
        else:
            self._on_failure()
