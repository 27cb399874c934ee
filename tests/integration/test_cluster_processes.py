"""Two `telemed web` and two `telemed ingest` OS processes act as one platform.

They share one fresh PostgreSQL database (migrated with `telemed db upgrade`), one Redis
(a unique key prefix per test) and the external broker of the `broker` fixture (MQTT_URL =
its dynamic-security admin). Devices are registered through web #1's API; device clients
publish SenML packs; the two ingest workers split the shared subscription; every reading is
stored exactly once; an out-of-band reading raises an alert that reaches SSE streams opened
on both web processes.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from tests.broker_fixture import TestBroker
from tests.integration.cluster import (
    PASSWORD,
    Api,
    Cluster,
    DevicePublisher,
    TelemedProcess,
    count_observations,
    heart_rate_pack,
)
from tests.integration.sse import SseEvent, next_event

pytestmark = [pytest.mark.postgres, pytest.mark.broker]

DEVICES = 4
PACKS_PER_DEVICE = 25
READINGS_PER_PACK = 20
TOTAL = DEVICES * PACKS_PER_DEVICE * READINGS_PER_PACK  # 2,000



async def wait_stored(database_url: str, count: int, seconds: float) -> tuple[int, int]:
    deadline = time.monotonic() + seconds
    got = await count_observations(database_url)
    while got[0] < count and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        got = await count_observations(database_url)
    await asyncio.sleep(0.5)  # nothing more should arrive (no duplicates later)
    return await count_observations(database_url)


async def next_alert(resp: aiohttp.ClientResponse, patient_id: str,
                     seconds: float) -> SseEvent:
    deadline = time.monotonic() + seconds
    while True:
        event = await next_event(resp, max(0.1, deadline - time.monotonic()))
        if event.event == "alert" and event.data.get("patient_id") == patient_id:
            return event


async def start_all(processes: list[TelemedProcess]) -> None:
    await asyncio.gather(*(p.start() for p in processes))


async def test_two_web_and_two_ingest_processes(cluster: Cluster, broker: TestBroker) -> None:
    await cluster.cli("user", "add", "dr.cluster", "--role", "doctor", "--password-stdin",
                      stdin=PASSWORD + "\n")
    web1 = cluster.process("web", "web1")
    web2 = cluster.process("web", "web2")
    ingest = [cluster.process("ingest", f"ingest{i}", ingest_client_id=f"telemed-ingest-t{i}",
                              ingest_subscription="shared") for i in (1, 2)]
    await start_all([web1, web2, *ingest])
    for proc in (web1, web2, *ingest):
        body = (await proc.readyz())[1]
        assert body["checks"]["bus"] == "ok" and body["checks"]["database"] == "ok", body
    for proc in ingest:
        assert (await proc.readyz())[1]["checks"]["mqtt_ingest"] == "ok"
    await asyncio.sleep(0.5)  # both workers' shared subscriptions are acknowledged

    publishers: list[DevicePublisher] = []
    streams: list[aiohttp.ClientResponse] = []
    async with asyncio.timeout(80), aiohttp.ClientSession() as http:
        one, two = Api(http, web1.url), Api(http, web2.url)
        await one.login("dr.cluster")
        two.token = one.token  # a bearer token of one process is valid on every other
        patient_ids = [await one.create_patient(i) for i in range(DEVICES)]
        devices = [await one.register_device(pid, f"SN-CLUSTER-{i}")
                   for i, pid in enumerate(patient_ids)]
        try:
            streams = [await one.open_alert_stream(), await two.open_alert_stream()]
            publishers = [DevicePublisher(broker.info.host, broker.info.port, device_id, pw)
                          for device_id, pw in devices]
            for publisher in publishers:
                await publisher.wait_connected()
            start = time.time() - 3600  # one hour ago, one second apart: all distinct
            for n in range(PACKS_PER_DEVICE):
                for publisher in publishers:
                    publisher.publish(heart_rate_pack(start + n * READINGS_PER_PACK,
                                                      READINGS_PER_PACK))
            for publisher in publishers:
                await publisher.wait_acked(PACKS_PER_DEVICE, 30)
            total, distinct = await wait_stored(cluster.database_url, TOTAL, 40)
            assert (total, distinct) == (TOTAL, TOTAL)

            shares = [await p.metric("telemed_readings_accepted") for p in ingest]
            assert sum(shares) == TOTAL, shares
            assert min(shares) > 0, f"one worker took everything: {shares}"

            # An out-of-band reading on the last device (heart rate 150/min > 130: critical).
            publishers[-1].publish([{"n": "heart_rate", "u": "/min", "v": 150,
                                     "t": time.time() - 1}])
            events = [await next_alert(resp, patient_ids[-1], 15) for resp in streams]
            for event in events:
                assert event.data["kind"] == "threshold"
                assert event.data["severity"] == "critical"
                assert event.data["change"] == "opened"
            assert events[0].id == events[1].id and events[0].data["id"] == events[1].data["id"]
        finally:
            for resp in streams:
                resp.close()
            for publisher in publishers:
                await asyncio.to_thread(publisher.stop)

    # The processes log JSON lines; the ingest share shows there too, and no secret does.
    for proc in (web1, web2, *ingest):
        lines = proc.log_lines()
        assert lines, proc.log_tail()
        text = proc.log_path.read_text()
        assert broker.info.admin_password not in text and cluster.secret_key not in text
    requests = [line for line in web1.log_lines() if line.get("logger") == "telemed.http"]
    assert requests and all(line.get("request_id") for line in requests)
