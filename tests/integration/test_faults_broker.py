"""The broker restarts while two ingest workers share the subscription: nothing is lost.

Real processes (one `telemed web`, two `telemed ingest` on `$share/telemed-ingest/...`),
PostgreSQL, Redis and the Mosquitto of the `broker` fixture, restarted mid-stream with its
persistence. Mosquitto 2.0 restores the workers' persistent sessions but not their shared
subscriptions, so for a moment after the restart nobody is subscribed and a QoS 1 PUBLISH is
acknowledged without a taker. The reference device client (`devices/`, MQTT 5) reads the
PUBACK's "no matching subscribers" code, keeps the pack in its on-disk outbox and sends it
again, so every reading is stored exactly once.

To make that window certain rather than a race, the workers are frozen (SIGSTOP) across the
restart and thawed 1.5 s after the broker is back: the devices reconnect first and publish
into a broker where nobody is subscribed yet. (A 3.1.1 device would lose those packs.)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from devices.buffer import PackBuffer
from devices.client import DeviceClient
from devices.profiles import Reading
from tests.broker_fixture import TestBroker
from tests.helpers.processes import with_children
from tests.integration.cluster import (
    PASSWORD,
    Api,
    Cluster,
    count_observations,
)

pytestmark = [pytest.mark.postgres, pytest.mark.broker]

DEVICES = 3
PACKS_PER_DEVICE = 300
READINGS_PER_PACK = 4
TOTAL = DEVICES * PACKS_PER_DEVICE * READINGS_PER_PACK
RATE = 60  # packs per second per device (5 s of traffic)



async def _stream(device: DeviceClient, start: datetime, started: asyncio.Event) -> None:
    for n in range(PACKS_PER_DEVICE):
        first = start + timedelta(seconds=n * READINGS_PER_PACK)
        await device.send([Reading("heart_rate", 60 + (n + i) % 30, "/min",
                                   first + timedelta(seconds=i))
                           for i in range(READINGS_PER_PACK)])
        if n == PACKS_PER_DEVICE // 4:
            started.set()
        await asyncio.sleep(1 / RATE)



async def test_broker_restart_with_shared_subscription_loses_nothing(
        cluster: Cluster, broker: TestBroker, tmp_path: Path) -> None:
    await cluster.cli("user", "add", "dr.broker", "--role", "doctor", "--password-stdin",
                      stdin=PASSWORD + "\n")
    web = cluster.process("web", "web1")
    ingest = [cluster.process("ingest", f"ingest{i}", ingest_client_id=f"telemed-ingest-b{i}",
                              ingest_subscription="shared") for i in (1, 2)]
    await asyncio.gather(*(p.start() for p in (web, *ingest)))
    await asyncio.sleep(0.5)  # shared subscriptions acknowledged

    devices: list[DeviceClient] = []
    async with asyncio.timeout(120), aiohttp.ClientSession() as http, \
            PackBuffer(tmp_path / "outbox.db") as outbox:
        api = Api(http, web.url)
        await api.login("dr.broker")
        credentials = []
        for n in range(DEVICES):
            patient_id = await api.create_patient(n)
            credentials.append(await api.register_device(patient_id, f"SN-BROKER-{n}"))
        try:
            for device_id, password in credentials:
                device = DeviceClient(device_id, password, broker.info.host, broker.info.port,
                                      buffer=outbox, reconnect_min=0.2, reconnect_max=1.0)
                await device.start()
                await device.wait_connected()
                devices.append(device)
            start = datetime.now(UTC) - timedelta(hours=2)
            started = [asyncio.Event() for _ in devices]
            streams = [asyncio.create_task(_stream(device, start, flag))
                       for device, flag in zip(devices, started, strict=True)]
            await asyncio.gather(*(flag.wait() for flag in started))

            await broker.stop()
            # the workers and their receiving processes
            frozen = [pid for p in ingest if p.pid is not None for pid in with_children(p.pid)]
            for pid in frozen:
                os.kill(pid, signal.SIGSTOP)
            try:
                await web.readyz_reports("broker", "down", 15)
                assert (await web.get("/healthz"))[0] == 200  # the web process keeps serving
                await broker.start()
                await asyncio.sleep(1.5)  # devices are back; no worker has resubscribed
            finally:
                for pid in frozen:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGCONT)
            await asyncio.gather(*streams)
            await web.readyz_reports("broker", "ok", 15)
            for device in devices:
                await device.wait_delivered(60)

            deadline = time.monotonic() + 40
            got = await count_observations(cluster.database_url)
            while got[0] < TOTAL and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                got = await count_observations(cluster.database_url)
            await asyncio.sleep(0.5)  # nothing more arrives later (no duplicates)
            assert await count_observations(cluster.database_url) == (TOTAL, TOTAL)
            assert all(device.stats.deferred > 0 for device in devices), (
                "a device never met the window without subscribers")
            assert all(device.stats.refused == 0 for device in devices)
        finally:
            for device in devices:
                await device.close()

    for proc in (web, *ingest):
        assert proc.running, f"{proc.name} died: {proc.log_tail()}"
    shares = [await p.metric("telemed_readings_accepted") for p in ingest]
    assert min(shares) > 0, f"one worker took everything: {shares}"
