"""Real `telemed` OS processes for multi-process tests and bench/scale.py (no pytest here).

A `Cluster` shares one PostgreSQL database, one Redis (with its own key prefix) and one
external broker (MQTT_URL = a dynamic-security admin); each `TelemedProcess` is
`python -m telemed --log-format json {web|ingest}` with its own HTTP_PORT and data dir,
logging JSON lines to a file. `DevicePublisher` is a device client publishing SenML packs at
QoS 1 from paho's thread. Everything started must be stopped: use `Cluster.close()` in a
finally (it terminates, then kills, every process it started).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client.parser import text_string_to_metric_families

from telemed.domain.fiscal_code import build_fiscal_code
from tests.helpers.net import free_port

SECRET_KEY = "cluster-test-secret-key-0123456789abcdef"
PASSWORD = "correct-horse-battery-9"
READINGS_TOPIC = "telemed/v1/devices/{}/readings"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def base_env() -> dict[str, str]:
    """The environment without any TELEMED_* setting of the caller."""
    return {k: v for k, v in os.environ.items() if not k.upper().startswith("TELEMED_")}


@dataclass
class Cluster:
    """Shared settings of the processes, and the processes started."""

    root: Path
    database_url: str
    redis_url: str
    redis_prefix: str
    mqtt_url: str
    secret_key: str = SECRET_KEY
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: list[TelemedProcess] = field(default_factory=list)

    def env(self, **settings: str) -> dict[str, str]:
        env = base_env()
        env.update({
            "TELEMED_ENV": "test",
            "TELEMED_DATABASE_URL": self.database_url,
            "TELEMED_REDIS_URL": self.redis_url,
            "TELEMED_REDIS_PREFIX": self.redis_prefix,
            "TELEMED_MQTT_URL": self.mqtt_url,
            "TELEMED_SECRET_KEY": self.secret_key,
            "TELEMED_API_RATE_PER_MINUTE": "1000000",
            "TELEMED_SCHEDULER_INTERVAL": "0",
            "TELEMED_LANGUAGE": "en",
        })
        env.update(self.extra_env)
        env.update({f"TELEMED_{k.upper()}": v for k, v in settings.items()})
        return env

    async def cli(self, *args: str, stdin: str = "") -> str:
        """Run `python -m telemed ARGS` to completion; return its stdout."""
        data = self.root / "cli"
        data.mkdir(parents=True, exist_ok=True)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "telemed", *args, env=self.env(data_dir=str(data)),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 120)
        if proc.returncode != 0:
            raise RuntimeError(f"telemed {' '.join(args)} failed: {err.decode()[-2000:]}")
        return out.decode()

    def process(self, role: str, name: str, **settings: str) -> TelemedProcess:
        proc = TelemedProcess(self, role, name, settings)
        self.processes.append(proc)
        return proc

    async def close(self) -> None:
        await asyncio.gather(*(p.stop() for p in self.processes), return_exceptions=True)


class TelemedProcess:
    """One `python -m telemed ROLE` child process with its own port and log file."""

    def __init__(self, cluster: Cluster, role: str, name: str,
                 settings: dict[str, str]) -> None:
        self.role = role
        self.name = name
        self.port = free_port()
        self.data_dir = cluster.root / name
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir / "telemed.log"
        self.env = cluster.env(data_dir=str(self.data_dir), http_port=str(self.port),
                               public_url=f"http://127.0.0.1:{self.port}", **settings)
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self, ready_within: float = 30.0) -> None:
        with self.log_path.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "telemed", "--log-format", "json", self.role,
                env=self.env, stdout=out, stderr=asyncio.subprocess.STDOUT,
                start_new_session=True)
        await self.wait_ready(ready_within)

    async def wait_ready(self, seconds: float) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        last: Any = None
        while time.monotonic() < deadline:
            if not self.running:
                raise AssertionError(f"{self.name} exited: {self.log_tail()}")
            try:
                status, body = await self.readyz()
                if status == 200:
                    return body
                last = body
            except (aiohttp.ClientError, OSError) as exc:
                last = exc
            await asyncio.sleep(0.1)
        raise AssertionError(f"{self.name} not ready within {seconds}s ({last}): "
                             f"{self.log_tail()}")

    async def get(self, path: str, seconds: float = 5.0) -> tuple[int, str]:
        async with (aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=seconds)) as s,
                    s.get(self.url + path) as resp):
            return resp.status, await resp.text()

    async def readyz(self) -> tuple[int, dict[str, Any]]:
        status, text = await self.get("/readyz")
        return status, json.loads(text)

    async def readyz_reports(self, check: str, want: str, seconds: float) -> dict[str, Any]:
        """Poll /readyz until ``check`` is ``want`` ("ok" or "down"), with the matching status."""
        deadline = time.monotonic() + seconds
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status, body = await self.readyz()
            checks = body.get("checks")
            if isinstance(checks, dict) and checks.get(check) == want:
                assert status == (200 if want == "ok" else 503), body
                return body
            await asyncio.sleep(0.1)
        raise AssertionError(f"{self.name}: /readyz never reported {check} {want}: {body}")

    async def metric(self, name: str) -> float:
        """The sum of every sample of the metric family ``name`` on /metrics."""
        status, text = await self.get("/metrics")
        assert status == 200, text
        total = 0.0
        for family in text_string_to_metric_families(text):
            if family.name == name:
                total += sum(s.value for s in family.samples if not s.name.endswith("_created"))
        return total

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process so far (Linux /proc)."""
        if self.pid is None:
            return 0.0
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / CLK_TCK
        return 0.0

    def log_lines(self) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = []
        with contextlib.suppress(OSError):
            for raw in self.log_path.read_text(errors="replace").splitlines():
                with contextlib.suppress(ValueError):
                    value = json.loads(raw)
                    if isinstance(value, dict):
                        lines.append(value)
        return lines

    def log_tail(self, chars: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-chars:]
        return ""

    async def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


# --- the API, as a client would use it ------------------------------------------------

class Api:
    """A bearer-token client of one web process."""

    def __init__(self, http: aiohttp.ClientSession, base: str, token: str = "") -> None:
        self.http = http
        self.base = base
        self.token = token

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def login(self, username: str, password: str = PASSWORD) -> None:
        async with self.http.post(f"{self.base}/api/v1/auth/token",
                                  json={"username": username, "password": password}) as resp:
            assert resp.status == 200, await resp.text()
            self.token = (await resp.json())["access_token"]

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.http.post(self.base + path, json=body, headers=self.headers) as resp:
            assert resp.status in (200, 201), f"{path}: {resp.status} {await resp.text()}"
            data: dict[str, Any] = await resp.json()
            return data

    async def get(self, path: str) -> dict[str, Any]:
        async with self.http.get(self.base + path, headers=self.headers) as resp:
            assert resp.status == 200, f"{path}: {resp.status} {await resp.text()}"
            data: dict[str, Any] = await resp.json()
            return data

    async def create_patient(self, n: int) -> str:
        given, family = f"Anna{chr(65 + n % 26)}", f"Verdi{chr(65 + (n // 26) % 26)}"
        birth = date(1940 + n % 40, 1 + n % 12, 1 + n % 28)
        patient = await self.post("/api/v1/patients", {
            "fiscal_code": build_fiscal_code(given, family, birth, "F", "Roma"),
            "given_name": given, "family_name": family, "birth_date": birth.isoformat(),
            "sex": "F"})
        return str(patient["id"])

    async def register_device(self, patient_id: str, serial: str) -> tuple[str, str]:
        since = (datetime.now(UTC) - timedelta(days=1)).isoformat()  # it replays the past
        reg = await self.post("/api/v1/devices", {"serial": serial, "kind": "multi",
                                                  "patient_id": patient_id,
                                                  "assigned_from": since})
        return str(reg["device_id"]), str(reg["mqtt_password"])

    async def open_alert_stream(self) -> aiohttp.ClientResponse:
        resp = await self.http.get(f"{self.base}/api/v1/alerts/stream", headers=self.headers,
                                   timeout=aiohttp.ClientTimeout(total=None, sock_read=None))
        assert resp.status == 200, await resp.text()
        return resp


# --- devices -------------------------------------------------------------------------

class DevicePublisher:
    """A device publishing SenML packs at QoS 1 from paho's network thread."""

    def __init__(self, host: str, port: int, device_id: str, password: str,
                 inflight: int = 100) -> None:
        self.device_id = device_id
        self.topic = READINGS_TOPIC.format(device_id)
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id,
                                  clean_session=False, reconnect_on_failure=True)
        self.client.username_pw_set(device_id, password)
        self.client.max_inflight_messages_set(inflight)
        self.client.max_queued_messages_set(0)
        self.acked = 0
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self.client.on_publish = self._on_publish
        self.client.on_connect = self._on_connect
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any,
                    props: Any) -> None:
        if not reason.is_failure:
            self._connected.set()

    def _on_publish(self, *args: Any) -> None:
        with self._lock:
            self.acked += 1

    async def wait_connected(self, seconds: float = 10.0) -> None:
        if not await asyncio.to_thread(self._connected.wait, seconds):
            raise AssertionError(f"device {self.device_id} did not connect")

    def publish(self, records: list[dict[str, Any]], topic: str | None = None) -> None:
        """Publish a pack on this device's readings topic (or `topic`, for a gateway)."""
        self.client.publish(topic or self.topic, json.dumps(records, separators=(",", ":")),
                            qos=1)

    async def wait_acked(self, count: int, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self.acked < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.device_id}: {self.acked} of {count} acknowledged")
            await asyncio.sleep(0.02)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def heart_rate_pack(first_time: float, count: int, value: float = 72.0) -> list[dict[str, Any]]:
    """``count`` heart-rate readings one second apart from ``first_time`` (SenML)."""
    return [{"bt": first_time, "n": "heart_rate", "u": "/min", "v": value}] + [
        {"n": "heart_rate", "u": "/min", "v": value + (i % 7), "t": i} for i in range(1, count)]


async def count_observations(database_url: str) -> tuple[int, int]:
    """(rows, distinct (device, metric, time)) in the observations table."""
    import asyncpg  # type: ignore[import-untyped]

    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        row = await conn.fetchrow(
            "SELECT count(*) AS n, count(DISTINCT (device_id, metric, time)) AS d "
            "FROM observations")
    finally:
        await conn.close()
    assert row is not None
    return int(row["n"]), int(row["d"])
