"""Scale-out benchmark: prints figures, is not a test.

Real processes, as in production: `telemed web` and one, then two, `telemed ingest` workers
(shared subscription) on a fresh PostgreSQL database each round, the local Redis as the event
bus (a unique prefix) and a private Mosquitto with dynamic security used as the external
broker (MQTT_URL = its admin). Devices are registered through the web process's API and
publish SenML packs at QoS 1 from this process (paho threads).

For each round it prints
- ingest throughput: readings stored per second from the first publish to the last row,
  and how the readings were split between the workers (their /metrics);
- CPU use of every process over the run (ingest workers, web, PostgreSQL backends, Mosquitto,
  this publisher) as a share of one core: the busiest one is the next limit;
- alert latency across processes: publish of an out-of-band reading → `event: alert` on an
  SSE stream of the web process (the alert is raised by an ingest worker and crosses Redis).
Then the scaling factor (two workers / one worker).

Two traffic shapes:
- default: a few devices (`--devices`, registered through the API, one MQTT connection each)
  flood the broker. Every batch of every worker then holds readings of the same patients, and
  a patient's readings are evaluated by one worker at a time (`telemed.db.locks`), so this
  shape measures one patient stream, not scale-out.
- `--population N`: N patients with one device each, seeded straight into the database, whose
  packs a single "gateway" MQTT client (an ACL on every device's readings topic) publishes in
  turn, as a region's devices each sending now and then would. Batches rarely share a patient.

    .venv/bin/python -m bench.scale [--readings 40000] [--pack 10] [--devices 8]
    .venv/bin/python -m bench.scale --population 5000 --readings 200000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import aiohttp

from bench.databases import postgres_database
from telemed.broker.runtime import BrokerHandle, open_broker
from telemed.settings import load_settings
from tests.integration.cluster import (
    PASSWORD,
    READINGS_TOPIC,
    Api,
    Cluster,
    DevicePublisher,
    TelemedProcess,
    count_observations,
    free_port,
    heart_rate_pack,
)
from tests.integration.sse import next_event

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CLK_TCK = os.sysconf("SC_CLK_TCK")


@contextlib.asynccontextmanager
async def private_broker(root: Path) -> AsyncIterator[BrokerHandle]:
    data = root
    data.mkdir(parents=True)
    settings = load_settings(
        env="test", broker="auto", data_dir=data,
        database_url=f"sqlite+aiosqlite:///{data / 'unused.db'}",
        secret_key="bench-scale-secret-0123456789abcdef0123",
        mqtt_listen=f"127.0.0.1:{free_port()}")
    async with open_broker(settings, private="start") as handle:
        yield handle


def admin_url(handle: BrokerHandle) -> str:
    info = handle.info
    return (f"mqtt://{quote(info.admin_username, safe='')}:"
            f"{quote(info.admin_password, safe='')}@{info.host}:{info.port}")


@contextlib.asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    name = f"telemed_bench_{os.getpid()}_{secrets.token_hex(3)}"
    async with postgres_database(name, migrated=False) as url:
        yield url


def _cpu_of_pid(pid: int) -> float:
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    return 0.0


def _pids_named(name: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == name:
                    pids.append(int(entry.name))
    return pids


@dataclass
class CpuMeter:
    """CPU seconds of named processes between `start` and `stop`."""

    named: dict[str, list[int]] = field(default_factory=dict)
    before: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)
    started: float = 0.0
    wall: float = 0.0

    def _read(self) -> dict[str, float]:
        values = {name: sum(_cpu_of_pid(p) for p in pids) for name, pids in self.named.items()}
        # PostgreSQL backends come and go: sample all of them each time.
        values["postgres (all)"] = sum(_cpu_of_pid(p) for p in _pids_named("postgres"))
        values["bench publisher"] = sum(os.times()[:2])
        return values

    def start(self) -> None:
        self.before = self._read()
        self.started = time.monotonic()

    def stop(self) -> None:
        self.after = self._read()
        self.wall = time.monotonic() - self.started

    def shares(self) -> dict[str, float]:
        return {name: (self.after[name] - self.before.get(name, 0.0)) / self.wall
                for name in self.after}


GATEWAY = "bench-gateway"


async def seed_population(database_url: str, count: int) -> list[str]:
    """`count` patients with one multi-device each, straight into the database; device ids."""
    from datetime import date

    from telemed.db.engine import make_engine, make_session_factory
    from telemed.db.models import Device, DeviceAssignment, Patient

    engine = make_engine(database_url)
    devices: list[str] = []
    try:
        sessions = make_session_factory(engine)
        async with sessions() as session:
            for start in range(0, count, 1000):
                patients = [Patient(fiscal_code=f"BNCPOP{i:010d}", given_name="Pop",
                                    family_name=f"Bench{i}", birth_date=date(1950, 1, 1),
                                    sex="F") for i in range(start, min(count, start + 1000))]
                session.add_all(patients)
                await session.flush()  # no relationship tells the ORM to insert these first
                for patient in patients:
                    device = Device(serial=f"SN-POP-{patient.family_name}", kind="multi",
                                    patient_id=patient.id, status="online")
                    session.add(device)
                    devices.append(device.id)
                await session.flush()
                since = datetime.now(UTC) - timedelta(days=30)
                session.add_all([DeviceAssignment(device_id=d, patient_id=p.id, valid_from=since)
                                 for d, p in zip(devices[start:], patients, strict=True)])
                await session.commit()
    finally:
        await engine.dispose()
    return devices


async def gateway_publisher(broker: BrokerHandle) -> DevicePublisher:
    """One MQTT client allowed to publish on every device's readings topic."""
    from telemed.broker.dynsec import Acl
    from telemed.broker.topics import ALL_READINGS

    if await broker.dynsec.get_role(GATEWAY) is None:
        await broker.dynsec.create_role(GATEWAY, [Acl("publishClientSend", ALL_READINGS)])
        await broker.dynsec.create_client(GATEWAY, PASSWORD, roles=[GATEWAY])
    return DevicePublisher(broker.info.host, broker.info.port, GATEWAY, PASSWORD, inflight=500)


@dataclass
class Round:
    workers: int
    readings: int
    seconds: float
    shares: list[float]
    cpu: dict[str, float]
    publish_seconds: float
    alert_ms: list[float]

    @property
    def rate(self) -> float:
        return self.readings / self.seconds


async def wait_count(database_url: str, count: int, seconds: float) -> float:
    """Monotonic time when the observations table first holds ``count`` rows."""
    deadline = time.monotonic() + seconds
    while True:
        rows, _ = await count_observations(database_url)
        if rows >= count:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {rows} of {count} readings stored after {seconds}s")
        await asyncio.sleep(0.05)


async def alert_latencies(api: Api, web: TelemedProcess, broker: BrokerHandle,
                          samples: int) -> list[float]:
    """Publish → SSE event on the web process, one fresh patient per sample (ms).

    The patients exist before the stream opens: a stream re-reads its caller's patients only
    every minute.
    """
    targets = []
    for i in range(samples):
        patient_id = await api.create_patient(500 + i)
        targets.append((patient_id, *await api.register_device(patient_id, f"SN-ALERT-{i}")))
    stream = await api.open_alert_stream()
    latencies: list[float] = []
    try:
        await asyncio.sleep(0.5)  # the stream's Redis subscription is up
        for patient_id, device_id, password in targets:
            device = DevicePublisher(broker.info.host, broker.info.port, device_id, password)
            try:
                await device.wait_connected()
                await asyncio.sleep(0.2)
                sent = time.monotonic()
                device.publish([{"n": "heart_rate", "u": "/min", "v": 150,
                                 "t": time.time() - 1}])
                while True:
                    event = await next_event(stream, 10)
                    if event.event == "alert" and event.data.get("patient_id") == patient_id:
                        latencies.append((time.monotonic() - sent) * 1000)
                        break
            finally:
                await asyncio.to_thread(device.stop)
    finally:
        stream.close()
    return latencies


async def one_round(root: Path, broker: BrokerHandle, workers: int, readings: int, pack: int,
                    devices: int, alert_samples: int, population: int = 0) -> Round:
    async with fresh_database() as database_url:
        cluster = Cluster(root=root / f"round{workers}", database_url=database_url,
                          redis_url=REDIS_URL,
                          redis_prefix=f"telemed-bench:{secrets.token_hex(6)}:",
                          mqtt_url=admin_url(broker))
        publishers: list[DevicePublisher] = []
        try:
            await cluster.cli("db", "upgrade")
            await cluster.cli("user", "add", "dr.bench", "--role", "doctor",
                              "--password-stdin", stdin=PASSWORD + "\n")
            web = cluster.process("web", "web")
            ingest = [cluster.process("ingest", f"ingest{i}",
                                      ingest_client_id=f"telemed-bench-{workers}-{i}",
                                      ingest_subscription="shared")
                      for i in range(1, workers + 1)]
            await asyncio.gather(*(p.start(60) for p in (web, *ingest)))
            async with aiohttp.ClientSession() as http:
                api = Api(http, web.url)
                await api.login("dr.bench")
                regs = []
                population_ids: list[str] = []
                if population:
                    population_ids = await seed_population(database_url, population)
                    publishers = [await gateway_publisher(broker)]
                    devices = population
                else:
                    for i in range(devices):
                        patient_id = await api.create_patient(i)
                        regs.append(await api.register_device(patient_id, f"SN-BENCH-{i}"))
                    publishers = [DevicePublisher(broker.info.host, broker.info.port, d, pw,
                                                  inflight=200) for d, pw in regs]
                for publisher in publishers:
                    await publisher.wait_connected()
                await asyncio.sleep(1.0)  # workers subscribed, configs published

                packs_per_device = max(1, readings // (pack * devices))
                total = packs_per_device * pack * devices
                meter = CpuMeter(named={p.name: [p.pid or 0] for p in (web, *ingest)}
                                 | {"mosquitto": [broker.supervisor.pid or 0]
                                    if broker.supervisor else []})
                start_time = time.time() - 10 * total
                meter.start()
                started = time.monotonic()
                if population:
                    gateway = publishers[0]
                    for n in range(packs_per_device):
                        for k, device_id in enumerate(population_ids):
                            gateway.publish(heart_rate_pack(
                                start_time + (k * packs_per_device + n) * pack, pack),
                                topic=READINGS_TOPIC.format(device_id))
                            if k % 200 == 199:
                                await asyncio.sleep(0)
                    await gateway.wait_acked(packs_per_device * population, 600)
                else:
                    for n in range(packs_per_device):
                        for k, publisher in enumerate(publishers):
                            publisher.publish(heart_rate_pack(
                                start_time + (k * packs_per_device + n) * pack, pack))
                        if n % 20 == 19:
                            await asyncio.sleep(0)  # let the loop breathe
                    for publisher in publishers:
                        await publisher.wait_acked(packs_per_device, 600)
                published = time.monotonic() - started
                done = await wait_count(database_url, total, 600)
                meter.stop()
                shares = [await p.metric("telemed_readings_accepted") for p in ingest]
                alerts = await alert_latencies(api, web, broker, alert_samples)
            return Round(workers, total, done - started, shares, meter.shares(), published,
                         alerts)
        finally:
            for publisher in publishers:
                await asyncio.to_thread(publisher.stop)
            await cluster.close()


def report(rounds: list[Round], pack: int) -> None:
    for r in rounds:
        print(f"\n== {r.workers} ingest worker(s): {r.readings} readings in packs of {pack}")
        print(f"  stored in {r.seconds:.2f} s -> {r.rate:,.0f} readings/s "
              f"({r.rate / pack:,.0f} messages/s); publishing took {r.publish_seconds:.2f} s")
        print("  per worker (telemed_readings_accepted): "
              + ", ".join(f"{s:.0f}" for s in r.shares))
        print("  CPU over the run (1.00 = one core busy):")
        for name, share in sorted(r.cpu.items(), key=lambda kv: -kv[1]):
            print(f"    {name:18s} {share:5.2f}")
        if r.alert_ms:
            print(f"  alert latency publish -> SSE on the web process ({len(r.alert_ms)} "
                  f"samples): median {statistics.median(r.alert_ms):.1f} ms, "
                  f"max {max(r.alert_ms):.1f} ms")
    if len(rounds) == 2:
        factor = rounds[1].rate / rounds[0].rate
        print(f"\nscaling factor (2 workers / 1 worker): {factor:.2f}x")
    last = rounds[-1]
    busiest = max(last.cpu.items(), key=lambda kv: kv[1])
    print(f"busiest process with {last.workers} worker(s): {busiest[0]} "
          f"({busiest[1]:.2f} of a core)")


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="telemed-scale-") as tmp:
        root = Path(tmp)
        rounds = []
        for workers in args.workers:
            # A fresh broker per round: Mosquitto keeps the persistent session of a stopped
            # worker in the shared group and queues its share of the readings for it.
            async with private_broker(root / f"broker{workers}") as broker:
                rounds.append(await one_round(root, broker, workers, args.readings,
                                              args.pack, args.devices, args.alerts,
                                              args.population))
        report(rounds, args.pack)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else "")
    parser.add_argument("--readings", type=int, default=40_000)
    parser.add_argument("--pack", type=int, default=10, help="readings per SenML pack")
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--alerts", type=int, default=10, help="alert latency samples")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--population", type=int, default=0,
                        help="patients seeded in the database, published through one gateway")
    try:
        asyncio.run(main(parser.parse_args()))
    except KeyboardInterrupt:
        sys.exit(130)
