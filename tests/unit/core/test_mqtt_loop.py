"""Joining the worker's waiting PUBACKs into one write (telemed.mqtt_loop.coalesce_acks)."""

from __future__ import annotations

import struct
from collections import deque
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from telemed.mqtt_loop import coalesce_acks


def _queued_acks(mids: list[int]) -> deque[Any]:
    """Acknowledgements queued the way the worker queues them: paho's own `ack`."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, manual_ack=True,
                         protocol=MQTTProtocolVersion.MQTTv5)
    client.on_socket_register_write = lambda *args: None  # no loop: nothing is written
    for mid in mids:
        client.ack(mid, 1)
    return client._out_packet


def test_waiting_pubacks_go_out_as_one_packet() -> None:
    queue = _queued_acks([1, 2, 300])
    coalesce_acks(queue)
    assert len(queue) == 1
    (packet,) = queue
    assert packet["packet"] == b"".join(struct.pack("!BBH", 0x40, 2, mid)
                                        for mid in (1, 2, 300))
    assert (packet["pos"], packet["to_process"]) == (0, 12)


def test_other_packets_keep_their_place() -> None:
    queue = _queued_acks([1, 2, 3, 4])
    publish = {"command": 0x30, "mid": 9, "qos": 1, "pos": 0, "to_process": 5,
               "packet": b"\x30\x03abc", "info": object()}
    partly_written = dict(queue[3], pos=1, to_process=3)
    queue.insert(2, publish)
    queue[4] = partly_written
    coalesce_acks(queue)
    assert [p["packet"] for p in queue] == [
        struct.pack("!BBHBBH", 0x40, 2, 1, 0x40, 2, 2), publish["packet"],
        struct.pack("!BBH", 0x40, 2, 3), partly_written["packet"]]
    assert queue[1] is publish and queue[3] is partly_written


def test_nothing_to_join_changes_nothing() -> None:
    single = _queued_acks([7])
    before = list(single)
    coalesce_acks(single)
    assert list(single) == before
    other: Any = ["not", "paho's"]
    coalesce_acks(other)
    assert other == ["not", "paho's"]
