"""The ingest never takes a retained readings message as a new measurement (#10, item 2)."""

from __future__ import annotations

from datetime import datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.subscribeoptions import SubscribeOptions

from telemed.ingest.mqtt import BrokerAddress, IngestMqttClient, readings_options

Handled = list[tuple[str, str, bytes]]


def _client(handled: Handled) -> IngestMqttClient:
    def handler(device_id: str, leaf: str, payload: bytes, received_at: datetime,
                settle: object) -> None:
        handled.append((device_id, leaf, payload))

    return IngestMqttClient(BrokerAddress("127.0.0.1", 1, "ingest", "x"), "test-ingest",
                            handler)


def _message(leaf: str, *, retain: bool) -> mqtt.MQTTMessage:
    msg = mqtt.MQTTMessage(mid=7, topic=f"telemed/v1/devices/dev1/{leaf}".encode())
    msg.payload = b'[{"n":"heart_rate","u":"/min","v":70,"t":0}]'
    msg.qos = 1
    msg.retain = retain
    return msg


async def test_a_delivery_flagged_retained_is_dropped_not_handled() -> None:
    handled: Handled = []
    client = _client(handled)
    paho = mqtt.Client(CallbackAPIVersion.VERSION2)  # not the ingest's: nothing is acked
    client._on_message(paho, None, _message("readings", retain=True))
    assert handled == [] and client.retained_dropped == 1
    client._on_message(paho, None, _message("readings", retain=False))
    assert [h[:2] for h in handled] == [("dev1", "readings")]
    # retained status is the device's state, not a measurement: still handled
    client._on_message(paho, None, _message("status", retain=True))
    assert [h[:2] for h in handled][-1] == ("dev1", "status")


def test_readings_are_subscribed_without_retained_messages() -> None:
    options = readings_options()
    assert options.QoS == 1
    assert options.retainHandling == SubscribeOptions.RETAIN_DO_NOT_SEND
    assert options.retainAsPublished is False
