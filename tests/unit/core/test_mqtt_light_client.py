"""`telemed.mqtt_loop.LightClient` receives what paho's own client receives, more cheaply.

Real sockets (a socket pair) carry MQTT 5 PUBLISH packets encoded by paho itself to both
clients; every field of every message must match, and a burst read in one system call must
be delivered whole by `PahoLoop` although the socket has nothing more to say.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from telemed.broker.probe import _remaining_length, _string
from telemed.mqtt_loop import RECV_SIZE, LightClient, PahoLoop

TOPIC = "telemed/v1/devices/0123456789abcdef/readings"


def publish_packet(topic: str, payload: bytes, *, qos: int = 1, mid: int = 1,
                   retain: bool = False, dup: bool = False,
                   properties: Properties | None = None) -> bytes:
    """An MQTT 5 PUBLISH packet as a broker sends it (properties packed by paho)."""
    body = _string(topic)
    if qos:
        body += struct.pack("!H", mid)
    body += properties.pack() if properties is not None else b"\x00"  # type: ignore[no-untyped-call]
    body += payload
    header = 0x30 | qos << 1 | (0x08 if dup else 0) | (0x01 if retain else 0)
    return bytes([header]) + _remaining_length(len(body)) + body


def _properties() -> Properties:
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.ContentType = "application/senml+json"
    props.UserProperty = ("source", "gateway")
    return props


STREAM = [
    publish_packet(TOPIC, b'[{"n":"spo2","v":97}]', mid=1),
    publish_packet(TOPIC, b"", qos=0, mid=0),
    publish_packet(TOPIC, b"x" * 300, mid=2, retain=True, dup=True),  # two length bytes
    publish_packet(TOPIC, b"with properties", mid=3, properties=_properties()),
    publish_packet("telemed/v1/devices/dispositivo-è/status", b"online", mid=4),
    publish_packet(TOPIC, b"y" * (RECV_SIZE + 10), mid=5),  # longer than one read
    publish_packet(TOPIC, b'"qos 2"', qos=2, mid=6),
]


def _fields(message: mqtt.MQTTMessage) -> tuple[Any, ...]:
    props = message.properties
    return (message.topic, bytes(message.payload), message.qos, message.retain, message.dup,
            message.mid, props.json() if props is not None else None)  # type: ignore[no-untyped-call]


def _client(cls: type[mqtt.Client], *, manual_ack: bool) -> tuple[mqtt.Client, socket.socket]:
    """A client reading one end of a socket pair (as if connected); the other end returned."""
    ours, broker = socket.socketpair()
    ours.setblocking(False)
    client = cls(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5,
                 manual_ack=manual_ack)
    client._sock = ours
    return client, broker


def _close(client: mqtt.Client, broker: socket.socket) -> None:
    client._sock.close()  # type: ignore[union-attr]
    broker.close()


def _receive(cls: type[mqtt.Client], data: bytes, *, manual_ack: bool = True
             ) -> tuple[list[tuple[Any, ...]], bytes]:
    """Every message `cls` delivers from `data`, and what it wrote back (acks)."""
    client, broker = _client(cls, manual_ack=manual_ack)
    got: list[tuple[Any, ...]] = []
    client.on_message = lambda c, u, m: got.append(_fields(m))
    broker.sendall(data)
    for _ in range(10_000):
        if client.loop_read() != MQTTErrorCode.MQTT_ERR_SUCCESS:
            break
    while client.want_write():
        client.loop_write()
    broker.setblocking(False)
    try:
        written = broker.recv(1 << 16)
    except BlockingIOError:
        written = b""
    _close(client, broker)
    return got, written


@pytest.mark.parametrize("manual_ack", [True, False])
def test_light_client_delivers_what_paho_delivers(manual_ack: bool) -> None:
    data = b"".join(STREAM)
    expected, expected_acks = _receive(mqtt.Client, data, manual_ack=manual_ack)
    got, acks = _receive(LightClient, data, manual_ack=manual_ack)
    assert len(expected) == 6  # the QoS 2 one waits for its PUBREL in both
    assert got == expected
    assert acks == expected_acks  # PUBACKs (or none with manual acks) and the PUBREC
    assert (b"@\x02\x00\x01" in acks) is not manual_ack


def test_messages_without_properties_share_no_objects_of_their_own() -> None:
    client, broker = _client(LightClient, manual_ack=True)
    got: list[mqtt.MQTTMessage] = []
    client.on_message = lambda c, u, m: got.append(m)
    broker.sendall(STREAM[0] + STREAM[0] + STREAM[3])
    for _ in range(3):
        client.loop_read()
    assert got[0].properties is got[1].properties  # the shared empty one
    assert got[0].info is got[1].info
    assert got[2].properties is not got[0].properties
    assert got[2].properties.ContentType == "application/senml+json"  # type: ignore[union-attr]
    _close(client, broker)


def test_one_system_call_serves_many_packets(monkeypatch: pytest.MonkeyPatch) -> None:
    client, broker = _client(LightClient, manual_ack=True)
    calls: list[int] = []
    real = mqtt.Client._sock_recv

    def counting(self: mqtt.Client, size: int) -> bytes:
        calls.append(size)
        return real(self, size)

    monkeypatch.setattr(mqtt.Client, "_sock_recv", counting)
    got: list[str] = []
    client.on_message = lambda c, u, m: got.append(m.topic)
    broker.sendall(STREAM[0] * 100)
    for _ in range(100):
        client.loop_read()
    assert len(got) == 100
    assert len(calls) == 1  # paho alone: 300 (command byte, length byte, the rest)
    assert client.buffered == 0  # type: ignore[attr-defined]
    _close(client, broker)


async def test_the_loop_delivers_a_burst_the_socket_no_longer_signals() -> None:
    """Read in one call, 50 messages sit in the client: `PahoLoop` reads on without the
    socket becoming readable again, one packet a turn, and stops reading when paused."""
    client, broker = _client(LightClient, manual_ack=True)
    got: list[int] = []
    driver = PahoLoop(client, on_message=lambda m: got.append(m.mid), reads_per_wakeup=1)
    driver._watch(client._sock)
    broker.sendall(b"".join(publish_packet(TOPIC, b"[]", mid=m) for m in range(1, 51)))
    for _ in range(200):
        await asyncio.sleep(0)
        if len(got) == 10:
            driver.set_paused(True)
            break
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(got) == 10
    assert client.buffered > 0  # type: ignore[attr-defined]
    driver.set_paused(False)
    for _ in range(200):
        await asyncio.sleep(0)
        if len(got) == 50:
            break
    assert got == list(range(1, 51))
    driver.stop()
    _close(client, broker)


async def test_a_loop_pass_reads_at_most_its_share_of_a_burst() -> None:
    """A burst the client holds while the socket stays readable, and paho's own read of a
    packet per message it is still publishing (a bulk send in flight): each pass of the loop
    still reads at most `reads_per_wakeup` messages, so a batch to write or a frame to send
    gets its turn between shares of the burst, not after all of it."""
    loop = asyncio.get_running_loop()
    client, broker = _client(LightClient, manual_ack=True)
    for mid in range(1000, 1050):  # our publishes awaiting their PUBACK
        client._out_messages[mid] = mqtt.MQTTMessage(mid)
    passes = [0]

    def tick() -> None:  # runs once a loop pass
        passes[0] += 1
        loop.call_soon(tick)

    per_pass: dict[int, int] = {}
    driver = PahoLoop(client, reads_per_wakeup=8, on_message=lambda m: per_pass.__setitem__(
        passes[0], per_pass.get(passes[0], 0) + 1))
    driver._watch(client._sock)
    broker.sendall(b"".join(publish_packet(TOPIC, b"[]", mid=m) for m in range(1, 401)))
    tick()
    for _ in range(1000):
        await asyncio.sleep(0)
        if sum(per_pass.values()) == 400:
            break
    assert sum(per_pass.values()) == 400
    assert max(per_pass.values()) <= 8, per_pass
    driver.stop()
    _close(client, broker)
