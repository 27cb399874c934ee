"""Readings survive an ingest worker killed with SIGKILL, its receiving process killed, and a
broker restart, exactly once; a worker leaves no receiving process behind."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import paho.mqtt.client as mqtt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func
from sqlmodel import select

from telemed import keys
from telemed.app import create_app
from telemed.db.engine import SessionFactory, make_engine, make_session_factory
from telemed.db.models import Observation, Patient
from telemed.services.devices import register_device
from telemed.settings import Settings, load_settings
from tests.broker_fixture import TestBroker
from tests.helpers.net import free_port
from tests.helpers.processes import children, gone
from tests.integration.monitoring import now_s, pack

pytestmark = pytest.mark.broker

PREFIX = "telemed/v1/devices"


class Publisher:
    """A device publishing a stream of single-reading packs at QoS 1 from paho's thread."""

    def __init__(self, broker: TestBroker, device_id: str, password: str) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id,
                                  clean_session=False, reconnect_on_failure=True)
        self.client.username_pw_set(device_id, password)
        self.client.max_queued_messages_set(0)
        self.client.max_inflight_messages_set(50)
        self.client.reconnect_delay_set(1, 2)
        self.acked = 0
        self._lock = threading.Lock()
        self.client.on_publish = self._on_publish
        self.client.connect(broker.info.host, broker.info.port, keepalive=10)
        self.client.loop_start()
        self.topic = f"{PREFIX}/{device_id}/readings"

    def _on_publish(self, *args: Any) -> None:
        with self._lock:
            self.acked += 1

    def publish(self, value: float, at: float) -> None:
        self.client.publish(self.topic, pack(("heart_rate", value, "/min", at)), qos=1)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def _stream(publisher: Publisher, count: int, rate: float,
                  halfway: asyncio.Event) -> None:
    start = now_s() - count  # distinct times, one second apart, all in the past
    for i in range(count):
        publisher.publish(60 + i % 40, start + i)
        if i == count // 3:
            halfway.set()
        await asyncio.sleep(1 / rate)


async def _count(sessions: SessionFactory, patient_id: str) -> tuple[int, int]:
    async with sessions() as session:
        total = (await session.exec(select(func.count()).select_from(Observation)
                                    .where(Observation.patient_id == patient_id))).one()
        distinct = (await session.exec(select(func.count(func.distinct(Observation.time)))
                                       .where(Observation.patient_id == patient_id))).one()
    return int(total), int(distinct)


async def _wait_count(sessions: SessionFactory, patient_id: str, count: int,
                      seconds: float) -> tuple[int, int]:
    got = (0, 0)
    for _ in range(int(seconds / 0.1)):
        got = await _count(sessions, patient_id)
        if got[0] >= count:
            await asyncio.sleep(0.5)  # nothing more should arrive
            return await _count(sessions, patient_id)
        await asyncio.sleep(0.1)
    return got


async def _wait_acked(publisher: Publisher, count: int, seconds: float) -> None:
    for _ in range(int(seconds / 0.05)):
        if publisher.acked >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{publisher.acked} of {count} publishes acknowledged")


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[SessionFactory]:
    engine = make_engine(settings.effective_database_url)
    yield make_session_factory(engine)
    await engine.dispose()


async def _patient_with_device(sessions: SessionFactory, broker: TestBroker,
                               fiscal_code: str) -> tuple[str, str, str]:
    from datetime import date

    async with sessions() as session:
        patient = Patient(fiscal_code=fiscal_code, given_name="Anna", family_name="Bianchi",
                          birth_date=date(1950, 1, 1), sex="F")
        session.add(patient)
        await session.commit()
        reg = await register_device(session, broker.dynsec, None, serial=f"SN-{now_s()}",
                                    kind="pulse_oximeter", patient_id=patient.id,
                                    assigned_from=datetime.now(UTC) - timedelta(days=1))
    return patient.id, reg.device.id, reg.password


class Worker:
    """`python -m telemed ingest` as a child process."""

    def __init__(self, settings: Settings, broker: TestBroker, tmp: Path) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "TELEMED_ENV": "test",
            "TELEMED_DATA_DIR": str(tmp),
            "TELEMED_DATABASE_URL": settings.effective_database_url,
            "TELEMED_SECRET_KEY": settings.secret_key,
            "TELEMED_MQTT_URL": broker.admin_url,
            "TELEMED_HTTP_PORT": str(self.port),
            "TELEMED_INGEST_CLIENT_ID": "telemed-ingest-test-worker",
            "TELEMED_SCHEDULER_INTERVAL": "0",
        }
        self.proc: asyncio.subprocess.Process | None = None
        self.log = tmp / "worker.log"

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "telemed", "ingest", env=self.env, stdout=out,
                stderr=asyncio.subprocess.STDOUT)
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                assert self.proc.returncode is None, self.log.read_text()[-3000:]
                try:
                    async with http.get(f"http://127.0.0.1:{self.port}/readyz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError("the ingest worker did not get ready: "
                             + self.log.read_text()[-3000:])

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    def receiver(self) -> int:
        """The pid of the worker's receiving process (`telemed ingest` starts one)."""
        assert self.proc is not None
        [pid] = children(self.proc.pid)
        assert "telemed.ingest.receiver" in Path(f"/proc/{pid}/cmdline").read_text()
        return pid

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


@dataclass
class MidStream:
    """A worker (`telemed ingest`) taking a device's stream of 1,500 readings, halfway."""

    worker: Worker
    publisher: Publisher
    patient_id: str
    stream: asyncio.Task[None]
    count: int = 1500

    async def all_stored(self, sessions: SessionFactory) -> tuple[int, int]:
        """Once the stream is sent and acknowledged: (readings stored, distinct)."""
        await self.stream
        await _wait_acked(self.publisher, self.count, 30)
        return await _wait_count(sessions, self.patient_id, self.count, 60)


@contextlib.asynccontextmanager
async def mid_stream(settings: Settings, broker: TestBroker, sessions: SessionFactory,
                     tmp_path: Path) -> AsyncIterator[MidStream]:
    patient_id, device_id, password = await _patient_with_device(sessions, broker,
                                                                 "BNCNNA50A41H501X")
    worker = Worker(settings, broker, tmp_path)
    await worker.start()
    publisher = Publisher(broker, device_id, password)
    halfway = asyncio.Event()
    try:
        stream = asyncio.create_task(_stream(publisher, 1500, 500, halfway))
        await halfway.wait()
        await asyncio.sleep(0.2)
        yield MidStream(worker, publisher, patient_id, stream)
    finally:
        publisher.stop()
        await worker.stop()


async def test_sigkill_of_the_ingest_worker_loses_and_duplicates_nothing(
        settings: Settings, broker: TestBroker, sessions: SessionFactory,
        tmp_path: Path) -> None:
    async with mid_stream(settings, broker, sessions, tmp_path) as run:
        receiver = run.worker.receiver()
        await run.worker.kill()  # mid-stream, with messages received and not yet committed
        stored_at_kill = (await _count(sessions, run.patient_id))[0]
        assert await gone(receiver, 10)  # its input closed: it disconnects and exits
        await run.worker.start()
        total, distinct = await run.all_stored(sessions)
    assert 0 < stored_at_kill < run.count
    assert (total, distinct) == (run.count, run.count)


async def test_sigkill_of_the_receiving_process_loses_and_duplicates_nothing(
        settings: Settings, broker: TestBroker, sessions: SessionFactory,
        tmp_path: Path) -> None:
    """The worker starts another receiver; what the dead one had handed over is still
    written, its acknowledgements are dropped, and the broker redelivers to the new one."""
    async with mid_stream(settings, broker, sessions, tmp_path) as run:
        first = run.worker.receiver()
        os.kill(first, signal.SIGKILL)
        total, distinct = await run.all_stored(sessions)
        second = run.worker.receiver()
        assert run.worker.proc is not None and run.worker.proc.returncode is None
        async with aiohttp.ClientSession() as http, \
                http.get(f"http://127.0.0.1:{run.worker.port}/metrics") as resp:
            assert "telemed_ingest_receiver_restarts_total 1.0" in await resp.text()
    assert second != first
    assert (total, distinct) == (run.count, run.count)
    assert await gone(second, 10)  # the worker stopped: so did its receiver
    log = run.worker.log.read_text()
    assert "the ingest receiver exited" in log
    # what the dead one had still to publish is lost: every config is published again
    assert log.count("published the config of 1 devices") == 2


async def allow_exclusive_ingest(broker: TestBroker) -> None:
    """The ingest role's ACL for the plain readings filter ("exclusive" subscription)."""
    from telemed.broker.dynsec import Acl
    from telemed.broker.topics import ALL_READINGS, INGEST_ROLE

    role = await broker.dynsec.get_role(INGEST_ROLE) or {}
    if not any(acl.get("topic") == ALL_READINGS and acl.get("acltype") == "subscribePattern"
               for acl in role.get("acls", [])):
        await broker.dynsec.add_role_acl(INGEST_ROLE, Acl("subscribePattern", ALL_READINGS))


@pytest.fixture
async def app(broker_settings: Settings, broker: TestBroker) -> web.Application:
    """One worker reading the plain (exclusive) subscription, which Mosquitto restores."""
    await allow_exclusive_ingest(broker)
    return create_app(load_settings(**{**broker_settings.model_dump(),
                                       "ingest_subscription": "exclusive"}))


async def test_broker_restart_mid_stream_loses_and_duplicates_nothing(
        client: TestClient[Any, Any], broker: TestBroker) -> None:
    app = client.app
    sessions = app[keys.SESSIONS]
    patient_id, device_id, password = await _patient_with_device(sessions, broker,
                                                                 "BNCNNA50A41H501X")
    publisher = Publisher(broker, device_id, password)
    count = 1500
    halfway = asyncio.Event()
    try:
        stream = asyncio.create_task(_stream(publisher, count, 500, halfway))
        await halfway.wait()
        await broker.restart()
        await stream
        await _wait_acked(publisher, count, 60)
        total, distinct = await _wait_count(sessions, patient_id, count, 60)
    finally:
        publisher.stop()
    assert (total, distinct) == (count, count)
