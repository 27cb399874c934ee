"""PostgreSQL goes down and comes back while devices publish: nothing is lost or doubled.

Real processes (one `telemed web`, two `telemed ingest`) on a fresh database of the local
PostgreSQL cluster, which the test stops and starts again as root with `pg_ctlcluster`
(TEST_PG_CLUSTER, default "15 main"). The ingest workers keep the messages they could not
store unacknowledged and retry with backoff; afterwards every reading is stored exactly once.
The web process keeps answering: /healthz stays 200, /readyz reports the database down and
then up, and the API works again without a restart.

The cluster is started again in a `finally` (and waited for with pg_isready) even when the
test fails, because the other tests need it. Without root or pg_ctlcluster the test fails
under CI=true and is skipped elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.broker_fixture import TestBroker
from tests.conftest import PG_ADMIN_DSN, service_missing
from tests.integration.cluster import (
    PASSWORD,
    Api,
    Cluster,
    DevicePublisher,
    count_observations,
    heart_rate_pack,
)

pytestmark = [pytest.mark.postgres, pytest.mark.broker]

PG_CLUSTER = os.environ.get("TEST_PG_CLUSTER", "15 main").split()
PACKS = 600
READINGS_PER_PACK = 5
TOTAL = PACKS * READINGS_PER_PACK
RATE = 100  # packs per second (6 s of traffic)


async def _run(*args: str, seconds: float = 60) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), seconds)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return -1, f"{args[0]} timed out"
    return proc.returncode or 0, out.decode(errors="replace")


def _pg_host_port() -> tuple[str, str]:
    rest = PG_ADMIN_DSN.split("@", 1)[-1].split("/", 1)[0]
    host, _, port = rest.partition(":")
    return host or "127.0.0.1", port or "5432"


async def pg_ready() -> bool:
    host, port = _pg_host_port()
    code, _ = await _run("pg_isready", "-h", host, "-p", port, "-t", "2", seconds=10)
    return code == 0


async def pg_ctl(action: str) -> str:
    code, out = await _run("pg_ctlcluster", "--skip-systemctl-redirect", *PG_CLUSTER, action,
                           *(["-m", "fast"] if action == "stop" else []))
    assert code == 0, f"pg_ctlcluster {action}: {out}"
    return out


async def ensure_pg_up(seconds: float = 60) -> None:
    """Start the cluster if it is down and wait until it accepts connections."""
    deadline = time.monotonic() + seconds
    if not await pg_ready():
        with contextlib.suppress(AssertionError):
            await pg_ctl("start")
    while not await pg_ready():
        if time.monotonic() > deadline:
            raise AssertionError("PostgreSQL did not come back up")
        await asyncio.sleep(0.2)


@pytest.fixture
def can_restart_postgres() -> None:
    if os.geteuid() != 0:
        service_missing("root (to restart PostgreSQL with pg_ctlcluster)")
    for tool in ("pg_ctlcluster", "pg_isready"):
        if shutil.which(tool) is None:
            service_missing(tool)


@pytest.fixture
async def cluster(can_restart_postgres: None, cluster: Cluster) -> AsyncIterator[Cluster]:
    """The shared cluster, with PostgreSQL up again before its database is dropped."""
    try:
        yield cluster
    finally:
        try:
            await cluster.close()
        finally:
            await ensure_pg_up()


async def _publish(publisher: DevicePublisher, start: float, outage: asyncio.Event) -> None:
    """A quarter of the packs, then (once the database is down) the rest."""
    for n in range(PACKS):
        if n == PACKS // 4:
            await outage.wait()  # however slowly PostgreSQL stops, the outage is mid-stream
        publisher.publish(heart_rate_pack(start + n * READINGS_PER_PACK, READINGS_PER_PACK))
        await asyncio.sleep(1 / RATE)



async def test_postgres_restart_during_ingest(cluster: Cluster, broker: TestBroker) -> None:
    await cluster.cli("user", "add", "dr.faults", "--role", "doctor", "--password-stdin",
                      stdin=PASSWORD + "\n")
    web = cluster.process("web", "web1")
    ingest = [cluster.process("ingest", f"ingest{i}", ingest_client_id=f"telemed-ingest-f{i}",
                              ingest_subscription="shared") for i in (1, 2)]
    await asyncio.gather(*(p.start() for p in (web, *ingest)))
    await asyncio.sleep(0.5)  # shared subscriptions acknowledged

    publisher: DevicePublisher | None = None
    async with asyncio.timeout(100), aiohttp.ClientSession() as http:
        api = Api(http, web.url)
        await api.login("dr.faults")
        patient_id = await api.create_patient(1)
        device_id, password = await api.register_device(patient_id, "SN-FAULTS-1")
        try:
            publisher = DevicePublisher(broker.info.host, broker.info.port, device_id,
                                        password)
            await publisher.wait_connected()
            outage = asyncio.Event()
            stream = asyncio.create_task(_publish(publisher, time.time() - 2 * TOTAL, outage))
            while publisher.acked < PACKS // 4:  # noqa: ASYNC110 - paho's thread counts
                await asyncio.sleep(0.02)

            await pg_ctl("stop")
            stored_while_down = (-1, -1)
            try:
                await web.readyz_reports("database", "down", 10)
                outage.set()
                status, _ = await web.get("/healthz")
                assert status == 200  # the process itself keeps serving
                await asyncio.sleep(2)  # the workers hold messages and retry meanwhile
            finally:
                outage.set()
                await pg_ctl("start")
                await ensure_pg_up()
            stored_while_down = await count_observations(cluster.database_url)
            await web.readyz_reports("database", "ok", 20)
            await stream
            await publisher.wait_acked(PACKS, 30)

            deadline = time.monotonic() + 40
            got = await count_observations(cluster.database_url)
            while got[0] < TOTAL and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                got = await count_observations(cluster.database_url)
            await asyncio.sleep(0.5)
            assert await count_observations(cluster.database_url) == (TOTAL, TOTAL)
            assert 0 < stored_while_down[0] < TOTAL  # the outage was mid-stream

            # The API works again on the same process (its pool recovered).
            async with http.get(f"{web.url}/api/v1/patients/{patient_id}/observations"
                                "?metric=heart_rate&limit=5", headers=api.headers) as resp:
                assert resp.status == 200, await resp.text()
        finally:
            if publisher is not None:
                await asyncio.to_thread(publisher.stop)

    retries = [line for p in ingest for line in p.log_lines()
               if line.get("level") == "WARNING"
               and "database unavailable" in str(line.get("message"))]
    assert retries, "the workers never retried a write: " + ingest[0].log_tail()
    for proc in (web, *ingest):
        assert proc.running, f"{proc.name} died: {proc.log_tail()}"
    accepted = [await p.metric("telemed_readings_accepted") for p in ingest]
    assert sum(accepted) == TOTAL, accepted
