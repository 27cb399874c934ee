"""Many simulated home devices in one asyncio process.

Each device has its own MQTT connection, outbox (one shared SQLite file) and profile. It
measures either at a fixed `rate` (packs per second, per device) or, with
`follow_schedule`, at the times its care plan's `config` asks for. With `time_scale` K > 1,
simulated time runs K times faster and ends at the present: a run of S seconds covers the
last K*S seconds, so a demo day passes in minutes and every reading is accepted (the
platform refuses readings from the future and marks old ones late).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from devices.buffer import PackBuffer
from devices.client import DeviceClient
from devices.mqtt import Protocol, TlsOptions
from devices.profiles import KINDS, SCENARIOS, DeviceProfile
from devices.schedule import next_session

log = logging.getLogger("devices.simulator")


@dataclass(frozen=True)
class DeviceCredentials:
    """What a simulated device needs (the JSON credentials file holds a list of these)."""

    device_id: str
    password: str = field(repr=False)
    kind: str = "multi"
    scenario: str = "stable"
    serial: str | None = None
    patient_id: str | None = None
    timezone: str = "Europe/Rome"

    def __post_init__(self) -> None:
        if not self.device_id or not self.password:
            raise ValueError("device_id and password are required")
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r}")
        if self.scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {self.scenario!r}")

    @classmethod
    def from_json(cls, data: Any) -> DeviceCredentials:
        if not isinstance(data, dict):
            raise ValueError("each device must be a JSON object")
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "device_id" not in known and "mqtt_username" in data:
            known["device_id"] = data["mqtt_username"]
        if "password" not in known and "mqtt_password" in data:
            known["password"] = data["mqtt_password"]
        return cls(**{k: str(v) for k, v in known.items() if v is not None})


def load_credentials(path: Path) -> list[DeviceCredentials]:
    """Read a credentials file: a JSON list of {device_id, password, kind, scenario}."""
    data = json.loads(path.read_text())
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of devices")
    return [DeviceCredentials.from_json(item) for item in data]


def save_credentials(path: Path, devices: Sequence[DeviceCredentials]) -> None:
    """Write a credentials file readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump([asdict(d) for d in devices], out, indent=2)


class SimClock:
    """Simulated time: runs `scale` times faster and reaches the present after `duration`."""

    def __init__(self, scale: float = 1.0, duration: float | None = None) -> None:
        if scale < 1:
            raise ValueError("time scale must be at least 1")
        if scale > 1 and not duration:
            raise ValueError("a time scale needs a duration (simulated time ends now)")
        self.scale = scale
        self._real = time.monotonic()
        wall = datetime.now(UTC)
        self.start = wall - timedelta(seconds=(duration or 0) * (scale - 1))

    def now(self) -> datetime:
        """Simulated now; never later than the real present."""
        simulated = self.start + timedelta(seconds=(time.monotonic() - self._real) * self.scale)
        return min(simulated, datetime.now(UTC))

    def real_seconds_until(self, moment: datetime) -> float:
        return max(0.0, (moment - self.now()).total_seconds() / self.scale)


@dataclass(frozen=True)
class SimulationOptions:
    host: str = "127.0.0.1"
    port: int = 18830
    tls: TlsOptions | None = None
    protocol: Protocol = "5"
    rate: float = 0.2
    duration: float | None = None
    time_scale: float = 1.0
    follow_schedule: bool = False
    continuous_every: float = 300.0  # simulated seconds between continuous measurements
    skip_probability: float = 0.05
    buffer_path: Path = Path("telemed-device-buffer.db")
    seed: int = 1
    unit_style: str = "canonical"
    drain_seconds: float = 15.0


@dataclass
class SimulationReport:
    devices: int = 0
    packs: int = 0
    readings: int = 0
    acked: int = 0
    seconds: float = 0.0
    left_in_buffer: int = 0

    def summary(self) -> str:
        rate = self.readings / self.seconds if self.seconds else 0.0
        return (f"{self.devices} devices sent {self.packs} packs ({self.readings} readings) in "
                f"{self.seconds:.1f} s: {rate:.0f} readings/s; {self.acked} packs acknowledged, "
                f"{self.left_in_buffer} waiting in the buffer")


class Simulator:
    """Runs the devices until `duration` has passed (or forever) and reports."""

    def __init__(self, devices: Sequence[DeviceCredentials], options: SimulationOptions,
                 *, progress: Any = None) -> None:
        if not devices:
            raise ValueError("no devices to simulate")
        self.devices = list(devices)
        self.options = options
        self.progress = progress  # a tqdm-like object with update(n) and set_postfix_str()
        self.report = SimulationReport(devices=len(devices))
        self.clients: list[DeviceClient] = []

    async def run(self) -> SimulationReport:
        opts = self.options
        started = time.monotonic()
        async with PackBuffer(opts.buffer_path) as buffer:
            self.clients = [
                DeviceClient(d.device_id, d.password, opts.host, opts.port, buffer=buffer,
                             tls=opts.tls, protocol=opts.protocol)
                for d in self.devices]
            for client in self.clients:
                await client.start()
            clock = SimClock(opts.time_scale, opts.duration)
            workers = [asyncio.create_task(self._device(d, c, clock, index),
                                           name=f"simulate-{d.device_id}")
                       for index, (d, c) in enumerate(zip(self.devices, self.clients,
                                                          strict=True))]
            reporter = asyncio.create_task(self._report_progress(), name="simulate-progress")
            try:
                if opts.duration:
                    await asyncio.sleep(opts.duration)
                else:
                    await asyncio.Event().wait()
            finally:
                for task in workers:
                    task.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                await self._drain(opts.drain_seconds)
                reporter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reporter
                self._update_progress()
                for client in self.clients:
                    await client.close()
                self.report.acked = sum(c.stats.acked for c in self.clients)
                self.report.left_in_buffer = await buffer.count()
                self.report.seconds = time.monotonic() - started
        return self.report

    async def _device(self, creds: DeviceCredentials, client: DeviceClient, clock: SimClock,
                      index: int) -> None:
        opts = self.options
        seed = opts.seed * 100_003 + index
        profile = DeviceProfile(creds.kind, seed=seed, scenario=creds.scenario,
                                start=clock.start, timezone=creds.timezone,
                                unit_style=opts.unit_style)
        if opts.follow_schedule:
            with contextlib.suppress(TimeoutError):
                await client.wait_connected(30)
                await asyncio.sleep(1.0)  # the retained config arrives right after subscribing
        interval = 1.0 / opts.rate if opts.rate > 0 else 60.0
        loop = asyncio.get_running_loop()
        next_at = loop.time() + random.Random(seed).random() * interval
        while True:
            if not (opts.follow_schedule and isinstance(client.config, dict)):
                await asyncio.sleep(max(0.0, next_at - loop.time()))
                next_at = max(next_at + interval, loop.time() - interval)
            metrics: tuple[str, ...] | None = None
            if opts.follow_schedule and isinstance(client.config, dict):
                session = next_session(client.config, clock.now(), seed=seed,
                                       continuous_every=timedelta(seconds=opts.continuous_every),
                                       skip_probability=opts.skip_probability,
                                       timezone=creds.timezone)
                if session is None:
                    await asyncio.sleep(5)
                    continue
                await asyncio.sleep(clock.real_seconds_until(session.at))
                metrics = tuple(m for m in session.metrics if m in profile.metrics)
                if not metrics:
                    continue
            readings = profile.measure(clock.now(), metrics)
            self.report.packs += 1  # counted first: a cancelled send still reaches the disk
            self.report.readings += len(readings)
            await client.send(readings)

    async def _drain(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await asyncio.gather(*(c.wait_delivered(seconds) for c in self.clients
                                       if c.connected))

    async def _report_progress(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            self._update_progress()

    def _update_progress(self) -> None:
        if self.progress is None:
            return
        acked = sum(c.stats.acked for c in self.clients)
        self.progress.update(acked - self.report.acked)
        self.report.acked = acked
        online = sum(1 for c in self.clients if c.connected)
        self.progress.set_postfix_str(
            f"online {online}/{len(self.clients)}, queued {self.report.packs - acked}")


async def register_devices(base_url: str, token: str, *, count: int, patient_ids: Sequence[str],
                           kinds: Sequence[str], scenario: str = "stable",
                           serial_prefix: str = "SIM",
                           replayed_seconds: float = 0.0) -> list[DeviceCredentials]:
    """Register `count` devices through the platform's API (a clinician's bearer token).

    A simulation that replays the past (``replayed_seconds`` of simulated time before now)
    registers the devices as the patients' since then (``assigned_from``), or the platform
    would refuse those readings as taken before the devices were assigned.
    """
    import aiohttp

    if not patient_ids:
        raise ValueError("registering devices needs at least one patient id")
    run = f"{int(time.time()):x}"
    devices = []
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(base_url, headers=headers) as http:
        for n in range(count):
            kind = kinds[n % len(kinds)]
            body = {"serial": f"{serial_prefix}-{run}-{n:05d}", "kind": kind,
                    "patient_id": patient_ids[n % len(patient_ids)]}
            if replayed_seconds > 0:
                back = min(replayed_seconds + 60, 30 * 86400 - 3600)  # the platform's limit
                since = datetime.now(UTC) - timedelta(seconds=back)
                body["assigned_from"] = since.isoformat()
            async with http.post("/api/v1/devices", json=body) as resp:
                answer = await resp.json(content_type=None)
                if resp.status != 201:
                    error = answer.get("error", {}) if isinstance(answer, dict) else {}
                    raise RuntimeError(f"registering {body['serial']} failed ({resp.status}): "
                                       f"{error.get('message', answer)}")
            devices.append(DeviceCredentials(
                device_id=answer["device_id"], password=answer["mqtt_password"], kind=kind,
                scenario=scenario, serial=body["serial"], patient_id=body["patient_id"]))
    return devices
