"""Ingest benchmark: prints figures, is not a test.

    .venv/bin/python bench/ingest.py [--sizes 50,5000] [--readings 30000] [--records 3]
                                     [--postgres] [--phases backlog,bare,live,alerts]
                                     [--probes 150] [--background-rate 1000]
                                     [--batch 2000] [--receiver process]
                                     [--history 3000000]

For each size K (devices, one patient each, every patient with an active care plan: two
monitored metrics and a trend rule) it starts a private Mosquitto (as `telemed serve` does)
on a free port and a fresh database (SQLite in a temporary directory, or a new PostgreSQL
database with --postgres), and measures on the same readings (--readings in packs of
--records records, spread over the K devices):

- backlog (always): the packs are queued while the worker's persistent session is offline;
  one worker (the real app in role `ingest`) then drains them: readings/s persisted *and*
  evaluated (rules run in the batch transaction), and the CPU seconds the process spent;
- storage limit (always, in the same run): the same packs decoded and written into the same
  schema through the same `insert_readings`, one transaction per batch of the worker's size,
  without MQTT and without rules (their times are moved a day back, so they are new rows):
  what storing alone costs; the worker's rate is printed as a fraction of it;
- history (--history N): N readings (heart rate and SpO2, one a minute per device, in time
  order) stored before the drain, so that the worker and the storage limit write into a table
  of a region's size instead of an empty one;
- bare: the same messages drained by a bare paho subscriber (QoS 1, auto-ack, the same
  receive maximum), and the ratio of the two;
- live: publishers, the worker and a bare subscriber in its own process all at once;
- alerts: the real app (role `serve`) with an SSE client of a doctor; background devices
  publish in-band readings at --background-rate readings/s from another process while probe
  devices publish out-of-band readings; the time from publish to the alert's SSE event.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import text
from sqlmodel import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.databases import create_database, drop_database, sqlite_database
from telemed import keys
from telemed.app import create_app
from telemed.broker.dynsec import Acl
from telemed.broker.info import derived_ingest_password
from telemed.broker.runtime import BrokerHandle, open_broker
from telemed.broker.topics import ALL_READINGS, INGEST_ROLE
from telemed.db.checkpoint import in_background
from telemed.db.engine import SessionFactory, make_engine, make_session_factory
from telemed.db.models import (
    CarePlan,
    CareTeamMember,
    Consent,
    DeviceAssignment,
    Observation,
    Patient,
)
from telemed.db.models import Device as DeviceRow
from telemed.domain.careplans import parse_careplan_content
from telemed.domain.senml import decode_pack
from telemed.heap import settle_heap
from telemed.ingest.mqtt import RECEIVE_MAXIMUM
from telemed.ingest.pipeline import PIPELINE
from telemed.ingest.receiver_process import ReceiverProcess
from telemed.security import hash_password
from telemed.services.observations import NewReading, insert_readings
from telemed.services.users import create_user
from telemed.settings import Settings, load_settings
from tests.helpers.net import free_port, running

PREFIX = "telemed/v1/devices"
SECRET = "bench-secret-key-0123456789-abcdefghijklmnop"
PLAN = {
    "monitoring": [
        {"metric": "heart_rate", "schedule": {"continuous": True}, "confirm_count": 2,
         "hysteresis": 2},
        {"metric": "spo2", "schedule": {"continuous": True}},
    ],
    "trends": [{"metric": "heart_rate", "delta": 40, "window_hours": 1}],
}


@dataclass
class Device:
    id: str
    password: str
    patient_id: str


# --- setup ----------------------------------------------------------------------------


async def fresh_database(tmp: Path, postgres: bool) -> tuple[str, str | None]:
    """A migrated database URL (and the PostgreSQL database name to drop afterwards)."""
    if not postgres:
        return await sqlite_database(tmp / "bench.db"), None
    name = f"telemed_bench_{os.getpid()}"
    return await create_database(name), name


def fiscal_code(n: int) -> str:
    """A valid fiscal code of the n-th bench patient (birth date and sex from n: no clash)."""
    from telemed.domain.fiscal_code import build_fiscal_code

    return build_fiscal_code(f"Bench{chr(65 + n % 26)}", f"Paziente{chr(65 + n // 26 % 26)}",
                             date(1900, 1, 1) + timedelta(days=n // 2), "MF"[n % 2], "Roma")


async def populate(sessions: SessionFactory, broker: BrokerHandle, count: int,
                   doctor_id: str, start: int) -> list[Device]:
    """K patients (care team, consent, active plan) with a registered device each.

    Rows as `register_device` writes them (the device and its first assignment a day back),
    in bulk, one hash for every bench device. The broker gets no client per device (creating
    thousands through dynamic security takes minutes): the bench publishes every device's
    packs as `PUBLISHER`, whose role may publish on every readings topic; the worker sees the
    same messages.
    """
    secret_hash = await asyncio.to_thread(hash_password, PUBLISHER[1])
    content = parse_careplan_content(PLAN).to_dict()
    now = datetime.now(UTC)
    devices: list[Device] = []
    for first in range(start, start + count, 1000):
        numbers = range(first, min(first + 1000, start + count))
        async with sessions() as session:
            patients = [Patient(fiscal_code=fiscal_code(n), given_name="Bench",
                                family_name=f"P{n}", birth_date=date(1950, 1, 1), sex="F")
                        for n in numbers]
            session.add_all(patients)
            await session.flush()
            rows: list[Any] = []
            for n, patient in zip(numbers, patients, strict=True):
                device = DeviceRow(serial=f"BENCH-{n}", kind="multi", patient_id=patient.id,
                                   status="offline", secret_hash=secret_hash)
                rows += [CareTeamMember(patient_id=patient.id, user_id=doctor_id,
                                        responsible=True),
                         Consent(patient_id=patient.id, granted=True, recorded_by=doctor_id,
                                 note="bench"),
                         CarePlan(plan_id=f"plan{n:08d}", version=1, patient_id=patient.id,
                                  status="active", title="Bench", period_start=date.today(),
                                  content=content, created_by=doctor_id, activated_at=now),
                         device]
                devices.append(Device(device.id, PUBLISHER[1], patient.id))
            session.add_all(rows)
            await session.flush()
            session.add_all([DeviceAssignment(device_id=d.id, patient_id=d.patient_id,
                                              valid_from=now - timedelta(days=1))
                             for d in devices[-len(patients):]])
            await session.commit()
    return devices


def settings_for(tmp: Path, url: str, broker: BrokerHandle, **extra: Any) -> Settings:
    info = broker.info
    mqtt_url = (f"mqtt://{quote(info.admin_username, safe='')}:"
                f"{quote(info.admin_password, safe='')}@{info.host}:{info.port}")
    extra.setdefault("ingest_batch_ms", int(os.environ.get("BENCH_BATCH_MS", "20")))
    return load_settings(env="test", data_dir=tmp, database_url=url, secret_key=SECRET,
                         mqtt_url=mqtt_url, http_port=free_port(), scheduler_interval=0,
                         ingest_client_id="telemed-ingest-bench", **extra)


# A minute's readings of every bench device, minutes 1..:per after :start, in time order.
_HISTORY_SQLITE = text(
    "WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < :per) "
    "INSERT INTO observations (patient_id, device_id, metric, value, unit, time, received_at, "
    "late) SELECT d.patient_id, d.id, m.column1, m.column2, m.column3, t.at, t.at, 0 "
    "FROM (SELECT n, strftime('%Y-%m-%d %H:%M:%S', :start, '+' || n || ' minutes') "
    "|| '.000000' AS at FROM k) t, devices d, "
    "(VALUES ('heart_rate', 72.0, '/min'), ('spo2', 97.0, '%')) m "
    "WHERE d.serial LIKE 'BENCH-%' ORDER BY t.n, d.id")
_HISTORY_POSTGRES = text(
    "INSERT INTO observations (patient_id, device_id, metric, value, unit, time, received_at, "
    "late) SELECT d.patient_id, d.id, m.metric, m.value, m.unit, "
    "CAST(:start AS timestamptz) + n * interval '1 minute', "
    "CAST(:start AS timestamptz) + n * interval '1 minute', false "
    "FROM generate_series(1, :per) n, devices d, "
    "(VALUES ('heart_rate', 72.0, '/min'), ('spo2', 97.0, '%')) m(metric, value, unit) "
    "WHERE d.serial LIKE 'BENCH-%' ORDER BY n, d.id")


async def seed_history(url: str, devices: int, readings: int, base: float) -> None:
    """About ``readings`` stored readings before ``base``: two metrics a minute per device,
    written in time order as they would have arrived (bulk SQL, no rules)."""
    per = max(1, readings // (devices * 2))
    start = datetime.fromtimestamp(base, UTC).replace(second=0, microsecond=0)
    start -= timedelta(minutes=per + 1)
    engine = make_engine(url)
    t0 = time.perf_counter()
    async with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            await conn.execute(_HISTORY_SQLITE, {"per": per,
                                                 "start": start.strftime("%Y-%m-%d %H:%M:%S")})
        else:
            await conn.execute(_HISTORY_POSTGRES, {"per": per, "start": start})
        stored = (await conn.execute(text("SELECT count(*) FROM observations"))).scalar_one()
    if conn.dialect.name == "postgresql":
        async with engine.connect() as conn:
            await conn.execute(text("ANALYZE observations"))
    await engine.dispose()
    print(f"  history: {stored:,} readings stored before the drain "
          f"({per} minutes a device) in {time.perf_counter() - t0:.1f}s")


# --- publishing -----------------------------------------------------------------------


def pack(base: float, records: int) -> bytes:
    out = []
    for i in range(records):
        metric = "heart_rate" if i % 2 == 0 else "spo2"
        v = 70 + i % 7 if metric == "heart_rate" else 97
        out.append({"n": metric, "u": "/min" if metric == "heart_rate" else "%", "v": v,
                    "t": base + i * 0.001})
    return json.dumps(out, separators=(",", ":")).encode()


PUBLISHER = ("bench-publisher", "bench-publisher-password-0123456789")


async def create_publisher(broker: BrokerHandle) -> None:
    """The broker identity the bench publishes every device's packs with."""
    await broker.dynsec.create_role("bench-publisher", [
        Acl("publishClientSend", f"{PREFIX}/+/readings"),
        Acl("publishClientSend", f"{PREFIX}/+/status")])
    await broker.dynsec.create_client(PUBLISHER[0], PUBLISHER[1], roles=["bench-publisher"])


def publisher(host: str, port: int, client_id: str) -> mqtt.Client:
    """A connected publishing client (CONNACK received, network thread started)."""
    connected = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.username_pw_set(*PUBLISHER)
    client.max_inflight_messages_set(100)
    client.max_queued_messages_set(0)
    client.on_connect = lambda *args: connected.set()
    client.connect(host, port)
    client.loop_start()
    if not connected.wait(10):
        raise RuntimeError(f"{client_id} could not connect to the broker")
    return client


def publish_all(host: str, port: int, devices: list[tuple[str, str]], messages: int,
                records: int, base: float, connections: int = 4) -> None:
    """Each device publishes `messages` packs at QoS 1 as fast as the broker takes them."""
    clients = [publisher(host, port, f"bench-pub-{os.getpid()}-{i}")
               for i in range(connections)]
    infos = []
    for m in range(messages):
        for n, (device_id, _) in enumerate(devices):
            infos.append(clients[n % connections].publish(
                f"{PREFIX}/{device_id}/readings", pack(base - messages + m, records), qos=1))
    for info in infos:
        info.wait_for_publish(60)
    for client in clients:
        client.disconnect()
        client.loop_stop()


def background(host: str, port: int, devices: list[tuple[str, str]], rate: float,
               seconds: float) -> None:
    """In-band readings at `rate` readings/s in total (run in a separate process)."""
    clients = [publisher(host, port, f"bench-background-{i}") for i in range(4)]
    started = time.monotonic()
    sent = 0
    while (elapsed := time.monotonic() - started) < seconds:
        due = int(elapsed * rate)
        while sent < due:
            device_id = devices[sent % len(devices)][0]
            clients[sent % len(clients)].publish(f"{PREFIX}/{device_id}/readings",
                                                 pack(time.time() - 1 + sent * 1e-6, 1), qos=1)
            sent += 1
        time.sleep(0.005)
    for client in clients:
        client.disconnect()
        client.loop_stop()


# --- bare paho subscriber ---------------------------------------------------------------


class BareSubscriber:
    """Plain paho (its own network thread, auto-ack), counting messages."""

    def __init__(self, broker: BrokerHandle) -> None:
        info = broker.info
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-bare",
                                  protocol=MQTTProtocolVersion.MQTTv5)
        # The app (external-broker mode) sets the ingest password derived from SECRET_KEY.
        self.client.username_pw_set(info.ingest_username, derived_ingest_password(SECRET))
        self.received = 0
        self.first: float | None = None
        self.last = 0.0
        self.done = threading.Event()
        self.expected = 0
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        self.host, self.port = info.host, info.port

    def _on_connect(self, client: mqtt.Client, *args: Any) -> None:
        client.subscribe(ALL_READINGS, qos=1)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        now = time.perf_counter()
        if self.first is None:
            self.first = now
        self.received += 1
        self.last = now
        if self.received >= self.expected > 0:
            self.done.set()

    def connect(self) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        props.ReceiveMaximum = RECEIVE_MAXIMUM
        self.client.connect(self.host, self.port, clean_start=False, properties=props)
        self.client.loop_start()

    def disconnect(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# --- phases ---------------------------------------------------------------------------


def process_cpu(pid: int | None) -> float:
    """CPU seconds (user and system) another process has spent so far (0 without one)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def stored(sessions: SessionFactory) -> int:
    async with sessions() as session:
        return int((await session.exec(select(func.count()).select_from(Observation))).one())


@dataclass
class Backlog:
    """What draining one backlog showed."""

    readings: int
    worker_rate: float  # readings/s persisted and evaluated
    worker_cpu: float  # CPU seconds of this process (every thread) while draining
    loop_cpu: float  # of which the event loop's thread (MQTT, decoding, rules: the GIL's side)
    storage_rate: float = 0.0  # readings/s decoded and inserted, no MQTT, no rules
    storage_cpu: float = 0.0
    bare_rate: float | None = None


async def throughput(args: argparse.Namespace, tmp: Path, url: str, broker: BrokerHandle,
                     devices: list[Device], messages: int, base: float) -> Backlog:
    """The worker draining a backlog (and a bare paho subscriber the same one, with `bare`)."""
    total_messages = len(devices) * messages
    total = total_messages * args.records
    settings = settings_for(tmp, url, broker, ingest_batch_size=args.batch,
                            ingest_receiver=args.receiver)
    bare_wanted = "bare" in args.phases
    # Create the persistent sessions and their subscriptions, then go offline.
    app = create_app(settings, "ingest")
    async with running(app, settings.http_port):
        intake = app[PIPELINE].mqtt
        assert intake is not None and await intake.wait_connected(30)
        await asyncio.sleep(0.5)
    bare = BareSubscriber(broker)
    if bare_wanted:
        await asyncio.to_thread(bare.connect)
        await asyncio.sleep(0.5)
        await asyncio.to_thread(bare.disconnect)

    info = broker.info
    pairs = [(d.id, d.password) for d in devices]
    t0 = time.perf_counter()
    await asyncio.to_thread(publish_all, info.host, info.port, pairs, messages,
                            args.records, base)
    print(f"  queued {total_messages} messages ({total} readings) in the broker in "
          f"{time.perf_counter() - t0:.1f}s")

    bare_rate = None
    if bare_wanted:
        bare.expected = total_messages
        started = time.perf_counter()
        await asyncio.to_thread(bare.connect)
        if not await asyncio.to_thread(bare.done.wait, 300):
            raise RuntimeError(f"the bare subscriber got {bare.received} of {total_messages}")
        bare_seconds = bare.last - started
        await asyncio.to_thread(bare.disconnect)
        bare_rate = bare.received * args.records / bare_seconds
        print(f"  bare paho: {bare.received} messages in {bare_seconds:.2f}s")

    engine = make_engine(url)
    sessions = make_session_factory(engine)
    before = await stored(sessions)
    app = create_app(settings, "ingest")
    profiler = None
    if os.environ.get("BENCH_PROFILE"):  # pyinstrument, installed by hand: not a dependency
        import pyinstrument  # type: ignore[import-not-found]

        profiler = pyinstrument.Profiler(interval=0.0005, async_mode="disabled")
        profiler.start()
    async with running(app, settings.http_port):
        client = app[PIPELINE].mqtt
        assert client is not None
        await client.wait_connected(30)
        assert client.first_connected_at is not None
        started = client.first_connected_at
        receiver = client.pid if isinstance(client, ReceiverProcess) else None
        cpu, loop_cpu = time.process_time(), time.thread_time()
        receiver_cpu = process_cpu(receiver)
        metrics = app[keys.METRICS]
        while True:
            accepted = sum(sample.value for metric in metrics.readings_accepted.collect()
                           for sample in metric.samples if sample.name.endswith("_total"))
            if accepted >= total:
                break
            if time.monotonic() - started > 600:
                raise RuntimeError(f"only {accepted} of {total} readings stored")
            await asyncio.sleep(0.01)
        worker_seconds = time.monotonic() - started
        receiver_cpu = process_cpu(receiver) - receiver_cpu
        worker_cpu = time.process_time() - cpu + receiver_cpu
        loop_cpu = time.thread_time() - loop_cpu
        if profiler is not None:
            profiler.stop()
            print(profiler.output_text(unicode=False, color=False, show_all=False))
        batches = app[PIPELINE].writer.batches
        busy = app[PIPELINE].writer.busy_seconds
    after = await stored(sessions)
    await engine.dispose()
    if after - before != total:
        raise RuntimeError(f"stored {after - before}, expected {total}")
    print(f"  worker: {total} readings in {worker_seconds:.2f}s ({worker_cpu:.2f} CPU s, "
          f"{loop_cpu:.2f} of them the event loop's thread, {receiver_cpu:.2f} the receiving "
          "process's), "
          f"{batches} batches (mean {total / max(batches, 1):.0f} readings), "
          f"{busy:.2f}s in transactions")
    return Backlog(total, total / worker_seconds, worker_cpu, loop_cpu, bare_rate=bare_rate)


async def storage_limit(url: str, devices: list[Device], messages: int, records: int,
                        base: float, batch_size: int) -> tuple[float, float]:
    """(readings/s, CPU s): the same packs decoded and inserted, no MQTT, no rules.

    The packs are the worker's, moved a day back (new rows); one transaction per batch of
    the worker's size, through the worker's own `insert_readings`."""
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    packs = [(device, pack(base - 86_400 - messages + m, records))
             for m in range(messages) for device in devices]
    per_batch = max(1, batch_size // records)
    total = 0
    # the log checkpointed as the app's engine has it (telemed.db.engine.database_ctx)
    async with (in_background(url) if url.startswith("sqlite") else contextlib.nullcontext()):
        started, cpu = time.perf_counter(), time.process_time()
        for first in range(0, len(packs), per_batch):
            received = datetime.now(UTC)
            rows: list[NewReading] = []
            for device, payload in packs[first:first + per_batch]:
                decoded = decode_pack(payload, received)
                rows += [NewReading(device.patient_id, device.id, r.metric, r.value, r.unit,
                                    r.time, received, r.late) for r in decoded.readings]
            async with sessions() as session:
                total += len(await insert_readings(session, rows))
                await session.commit()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    await engine.dispose()
    if total != len(packs) * records:
        raise RuntimeError(f"storage limit stored {total} of {len(packs) * records}")
    print(f"  storage limit: {total} readings in {seconds:.2f}s ({cpu:.2f} CPU s)")
    return total / seconds, cpu


def bare_process(host: str, port: int, password: str, expected: int, ready: Any,
                 result: Any) -> None:
    """A bare paho subscriber in its own process (its own GIL): report (first, last) times."""
    done = threading.Event()
    times: list[float] = []

    def on_message(client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        times.append(time.time())
        if len(times) >= expected:
            done.set()

    def on_subscribe(*args: Any) -> None:
        ready.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-bare-live",
                         protocol=MQTTProtocolVersion.MQTTv5)
    client.username_pw_set("telemed-ingest", password)
    client.on_message = on_message
    client.on_subscribe = on_subscribe
    client.on_connect = lambda c, *a: c.subscribe(ALL_READINGS, qos=1)
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.ReceiveMaximum = RECEIVE_MAXIMUM
    client.connect(host, port, properties=props)
    client.loop_start()
    done.wait(600)
    client.disconnect()
    client.loop_stop()
    result.put((times[0] if times else 0.0, times[-1] if times else 0.0, len(times)))


def publisher_process(host: str, port: int, devices: list[tuple[str, str]], messages: int,
                      records: int, base: float, start: Any) -> None:
    start.wait(60)
    publish_all(host, port, devices, messages, records, base)


async def live(args: argparse.Namespace, tmp: Path, url: str, broker: BrokerHandle,
               devices: list[Device], messages: int) -> tuple[float, float]:
    """Publishers, the worker and a bare subscriber all at once, on the same messages."""
    total_messages = len(devices) * messages
    total = total_messages * args.records
    settings = settings_for(tmp, url, broker, ingest_batch_size=args.batch)
    info = broker.info
    context = multiprocessing.get_context("spawn")
    ready, start, result = context.Event(), context.Event(), context.Queue()
    bare = context.Process(target=bare_process, args=(
        info.host, info.port, derived_ingest_password(SECRET), total_messages, ready, result))
    publisher = context.Process(target=publisher_process, args=(
        info.host, info.port, [(d.id, d.password) for d in devices], messages,
        args.records, time.time() + 0.5, start))
    bare.start()
    publisher.start()
    app = create_app(settings, "ingest")
    async with running(app, settings.http_port):
        client = app[PIPELINE].mqtt
        assert client is not None
        await client.wait_connected(30)
        await asyncio.to_thread(ready.wait, 30)
        await asyncio.sleep(1)
        metrics = app[keys.METRICS]

        def accepted() -> float:
            return sum(sample.value for metric in metrics.readings_accepted.collect()
                       for sample in metric.samples if sample.name.endswith("_total"))

        before = accepted()
        started = time.time()
        start.set()
        while accepted() - before < total:
            if time.time() - started > 600:
                raise RuntimeError("the worker did not keep up within 600 s")
            await asyncio.sleep(0.05)
        worker_seconds = time.time() - started
    _first, last, count = await asyncio.to_thread(result.get, True, 600)
    await asyncio.to_thread(bare.join)
    await asyncio.to_thread(publisher.join)
    bare_seconds = last - started
    print(f"  worker: {total} readings in {worker_seconds:.2f}s after the publishers started")
    print(f"  bare paho (own process): {count} messages in {bare_seconds:.2f}s")
    return total / worker_seconds, count * args.records / bare_seconds


async def alert_latency(args: argparse.Namespace, tmp: Path, url: str, broker: BrokerHandle,
                        background_devices: list[Device], probes: list[Device],
                        doctor: dict[str, str]) -> list[float]:
    settings = settings_for(tmp, url, broker, ingest_batch_size=args.batch)
    app = create_app(settings, "serve")
    latencies: list[float] = []
    info = broker.info
    async with running(app, settings.http_port):
        headers = await bearer(settings.http_port, doctor)
        published: dict[str, float] = {}
        got: dict[str, float] = {}
        arrived = asyncio.Event()
        seen = [0]

        async def listen(resp: aiohttp.ClientResponse) -> None:
            data: list[str] = []
            async for raw in resp.content:
                line = raw.decode().rstrip("\r\n")
                if line.startswith("data:"):
                    data.append(line[5:].strip())
                elif line == "" and data:
                    event = json.loads("".join(data))
                    data = []
                    seen[0] += 1
                    pid = event.get("patient_id")
                    if pid in published and pid not in got and event.get("change") == "opened":
                        got[pid] = time.perf_counter()
                        arrived.set()

        async with aiohttp.ClientSession() as http:
            resp = await http.get(f"http://127.0.0.1:{settings.http_port}/api/v1/alerts/stream",
                                  headers=headers, timeout=aiohttp.ClientTimeout(total=None))
            if resp.status != 200:
                raise RuntimeError(f"alert stream: {resp.status} {await resp.text()}")
            listener = asyncio.create_task(listen(resp))
            seconds = args.probes * args.probe_interval + 5
            proc = multiprocessing.get_context("spawn").Process(
                target=background, args=(info.host, info.port,
                                         [(d.id, d.password) for d in background_devices],
                                         args.background_rate, seconds))
            proc.start()
            await asyncio.sleep(2)  # let the background load settle
            for device in probes:
                client = await asyncio.to_thread(connect_probe, info.host, info.port, device)
                arrived.clear()
                published[device.patient_id] = time.perf_counter()
                probe = [{"n": "spo2", "u": "%", "v": 85, "t": time.time()}]
                client.publish(f"{PREFIX}/{device.id}/readings", json.dumps(probe), qos=1)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(arrived.wait(), 5)
                await asyncio.to_thread(client.disconnect)
                client.loop_stop()
                await asyncio.sleep(args.probe_interval)
            await asyncio.to_thread(proc.join)
            listener.cancel()
            resp.close()
        lag = app[keys.METRICS].ingest_lag
        count = sum(s.value for m in lag.collect() for s in m.samples
                    if s.name.endswith("_count"))
        print(f"  background: {count:.0f} messages handled by the worker during the run; "
              f"{seen[0]} alert events on the stream")
    for pid, sent in published.items():
        if pid in got:
            latencies.append((got[pid] - sent) * 1000)
    missing = len(published) - len(latencies)
    if missing:
        print(f"  WARNING: {missing} probe alerts did not arrive within 5 s")
    return latencies


def connect_probe(host: str, port: int, device: Device) -> mqtt.Client:
    """A connected client publishing for the probe device."""
    return publisher(host, port, f"bench-probe-{device.id}")


async def bearer(port: int, doctor: dict[str, str]) -> dict[str, str]:
    async with aiohttp.ClientSession() as http, http.post(
            f"http://127.0.0.1:{port}/api/v1/auth/token",
            json={"username": doctor["username"], "password": doctor["password"]}) as resp:
        data = await resp.json()
    return {"Authorization": f"Bearer {data['access_token']}"}


def print_latency(latencies: list[float]) -> None:
    if latencies:
        print(f"  publish → SSE event: p50 {statistics.median(latencies):.1f} ms, "
              f"p99 {percentile(latencies, 99):.1f} ms, max {max(latencies):.1f} ms"
              f" ({len(latencies)} alerts); slowest: "
              + ", ".join(f"{v:.0f}" for v in sorted(latencies)[-5:]))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


async def run_size(args: argparse.Namespace, size: int) -> Backlog:
    """Every asked phase with `size` devices, on a fresh database and broker."""
    with tempfile.TemporaryDirectory(prefix="telemed-bench-") as raw_tmp:
        tmp = Path(raw_tmp)
        url, pg_name = await fresh_database(tmp, args.postgres)
        broker_settings = load_settings(env="test", broker="auto", data_dir=tmp / "broker",
                                        database_url=url, secret_key=SECRET,
                                        mqtt_listen=f"127.0.0.1:{free_port()}")
        try:
            async with open_broker(broker_settings, private="start") as broker:
                await broker.dynsec.add_role_acl(INGEST_ROLE,
                                                 Acl("subscribePattern", ALL_READINGS))
                await create_publisher(broker)
                engine = make_engine(url)
                sessions = make_session_factory(engine)
                async with sessions() as session:
                    user = await create_user(session, username="bench-doctor",
                                             password="bench-password-123", role="doctor",
                                             display_name="Bench Doctor", patient_id=None)
                    await session.commit()
                doctor = {"id": user.id, "username": "bench-doctor",
                          "password": "bench-password-123"}
                probes_wanted = args.probes if "alerts" in args.phases else 0
                messages = max(1, args.readings // (size * args.records))
                print(f"\n== {size} devices × {messages} packs × {args.records} record(s) "
                      f"({size * messages * args.records} readings), Mosquitto on "
                      f"{broker.info.address}")
                t0 = time.perf_counter()
                devices = await populate(sessions, broker, size, user.id, 0)
                probes = await populate(sessions, broker, probes_wanted, user.id, 60_000)
                await engine.dispose()
                print(f"  set up {size} devices and patients in {time.perf_counter() - t0:.1f}s")
                settle_heap()  # as `telemed serve|ingest` does before serving

                base = time.time()
                if args.history:
                    await seed_history(url, size, args.history, base - 86_400 - messages - 60)
                result = await throughput(args, tmp, url, broker, devices, messages, base)
                result.storage_rate, result.storage_cpu = await storage_limit(
                    url, devices, messages, args.records, base, args.batch)
                print(f"  readings/s persisted and evaluated (one worker): "
                      f"{result.worker_rate:,.0f}")
                print(f"  readings/s stored by the storage limit:          "
                      f"{result.storage_rate:,.0f}")
                print(f"  worker / storage limit: {result.worker_rate / result.storage_rate:.2f}")
                if result.bare_rate is not None:
                    print(f"  readings/s a bare paho subscriber receives:      "
                          f"{result.bare_rate:,.0f} (worker / bare "
                          f"{result.worker_rate / result.bare_rate:.2f})")

                if "live" in args.phases:
                    print("  live: the devices publish the same amount again while the "
                          "worker and a bare paho subscriber receive it")
                    worker_live, bare_live = await live(args, tmp, url, broker, devices,
                                                        messages)
                    print(f"  readings/s persisted and evaluated (one worker): "
                          f"{worker_live:,.0f}")
                    print(f"  readings/s the bare paho subscriber receives:    "
                          f"{bare_live:,.0f}")
                    print(f"  ratio: {worker_live / bare_live:.2f}")

                if "alerts" in args.phases:
                    print(f"  alert latency: {args.probes} probes under "
                          f"{args.background_rate:.0f} readings/s background")
                    latencies = await alert_latency(args, tmp, url, broker, devices, probes,
                                                     doctor)
                    print_latency(latencies)
                gc.unfreeze()
                return result
        finally:
            if pg_name:
                await drop_database(pg_name)


BATCH_SIZE = Settings.model_fields["ingest_batch_size"].default  # the worker's default


async def main(args: argparse.Namespace) -> None:
    print(f"Telemed ingest benchmark — {'PostgreSQL' if args.postgres else 'SQLite'}, "
          f"{os.cpu_count()} CPUs, load average "
          + " / ".join(f"{v:.1f}" for v in os.getloadavg()) + " at start")
    results = [(size, await run_size(args, size)) for size in args.sizes]
    print(f"\nsummary ({'PostgreSQL' if args.postgres else 'SQLite'}, {args.records} "
          f"record(s) a pack, receiver {args.receiver}, {args.history:,} readings of "
          "history; load average "
          + " / ".join(f"{v:.1f}" for v in os.getloadavg()) + " at the end)")
    print("| devices | readings | worker readings/s (CPU µs a reading) "
          "| storage limit readings/s (CPU µs a reading) | worker / storage |")
    print("|---|---|---|---|---|")
    for size, r in results:
        print(f"| {size:,} | {r.readings:,} | {r.worker_rate:,.0f} "
              f"({r.worker_cpu / r.readings * 1e6:.0f}) | {r.storage_rate:,.0f} "
              f"({r.storage_cpu / r.readings * 1e6:.0f}) "
              f"| {r.worker_rate / r.storage_rate:.2f} |")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="50,5000",
                        help="devices (one patient each) of each run, comma-separated")
    parser.add_argument("--readings", type=int, default=30_000,
                        help="readings of each backlog, spread over the devices")
    parser.add_argument("--records", type=int, default=3, help="records per pack")
    parser.add_argument("--postgres", action="store_true", help="a fresh PostgreSQL database")
    parser.add_argument("--history", type=int, default=0,
                        help="readings stored before the drain (0: an empty table)")
    parser.add_argument("--phases", default="backlog",
                        help="besides backlog and the storage limit: bare, live, alerts")
    parser.add_argument("--probes", type=int, default=150, help="alert latency probes")
    parser.add_argument("--probe-interval", type=float, default=0.1)
    parser.add_argument("--background-rate", type=float, default=1000.0)
    parser.add_argument("--receiver", choices=("inline", "process"), default="process",
                        help="where the worker's MQTT connection and decoding run "
                             "(TELEMED_INGEST_RECEIVER; a dedicated worker's default: process)")
    parser.add_argument("--batch", type=int, default=BATCH_SIZE,
                        help="readings a batch transaction holds at most "
                             "(TELEMED_INGEST_BATCH_SIZE); the storage limit uses the same")
    args = parser.parse_args()
    args.sizes = [int(part) for part in args.sizes.split(",") if part]
    args.phases = {part.strip() for part in args.phases.split(",") if part.strip()}
    unknown = args.phases - {"backlog", "bare", "live", "alerts"}
    if unknown:
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
    return args


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
