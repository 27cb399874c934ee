"""Signalling benchmark: prints figures, is not a test.

    .venv/bin/python bench/signalling.py [--idle 5000] [--rooms 500] [--rate 2000]
                                         [--seconds 10] [--joins 10]

Runs the real app (role `web`, SQLite in a temporary directory) in a child process, so the
server's memory and CPU are its own, and measures from this process:

1. idle connections: N WebSockets joined to teleconsult rooms of five (one user each), held
   open; the server's resident memory before and after, per connection;
2. relay: R rooms of two admitted peers; one peer of each room sends `signal` frames
   carrying a send timestamp at an aggregate rate (msg/s), the other receives them: the
   achieved rate and the relay latency p50/p99 (send → receive, same clock);
3. join → connected: two aiortc peers (a doctor who admits on the knock, and a patient) —
   the time from the patient's `join` to both peer connections being `connected`.

Targets (docs/visits.md): 5,000 idle connections, relay p99 < 20 ms at 2,000 msg/s,
join → connected < 1.5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from telemed.db import migrate
from telemed.db.engine import make_engine, make_session_factory
from telemed.db.models import Patient, User, UserSession, Visit, VisitParticipant
from telemed.settings import Settings, load_settings
from telemed.signalling import messages as m
from telemed.signalling.client import MeshPeer, SignallingClient
from telemed.signalling.tokens import issue_join_token
from tests.helpers.net import free_port

SECRET = "bench-secret-key-0123456789-abcdefghijklmnop"
ROOM_SIZE = 5


def _settings(data_dir: Path, port: int) -> Settings:
    return load_settings(
        env="test", data_dir=data_dir, database_url=f"sqlite+aiosqlite:///{data_dir}/bench.db",
        secret_key=SECRET, public_url=f"http://127.0.0.1:{port}", http_port=port,
        api_rate_per_minute=1_000_000, language="en",
    )


def _serve(data_dir: str, port: int) -> None:
    """The child process: the real app, nothing else."""
    import logging

    from aiohttp import web

    from telemed.app import create_app

    logging.basicConfig(level=logging.WARNING)
    resource.setrlimit(resource.RLIMIT_NOFILE, (20_000, 20_000))
    app = create_app(_settings(Path(data_dir), port), role="web")
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None,
                shutdown_timeout=5)


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclass
class Seat:
    visit_id: str
    user_id: str
    role: str
    session_id: str  # join tokens name an open session of the user


async def _seed(settings: Settings, tag: str, rooms: int, kind: str,
                size: int) -> list[list[Seat]]:
    """`rooms` visits of `size` people each, written straight into the database."""
    engine = make_engine(settings.effective_database_url)
    sessions = make_session_factory(engine)
    start = datetime.now(UTC) + timedelta(minutes=5)
    layout: list[list[Seat]] = []
    try:
        async with sessions() as session:
            for room in range(rooms):
                patient = Patient(fiscal_code=f"BN{tag}{room:013d}", given_name="Bench",
                                  family_name=f"Room{room}", birth_date=datetime(1950, 1, 1),
                                  sex="M")
                session.add(patient)
                users = []
                for seat in range(size):
                    role = "patient" if kind == "televisit" and seat == size - 1 else "doctor"
                    user = User(username=f"b{tag}{room}-{seat}", password_hash="x", role=role,
                                display_name=f"Bench {room}-{seat}",
                                patient_id=patient.id if role == "patient" else None)
                    users.append(user)
                session.add_all(users)
                visit = Visit(kind=kind, patient_id=patient.id, scheduled_start=start,
                              duration_minutes=60, created_by=users[0].id)
                session.add(visit)
                session.add_all(VisitParticipant(visit_id=visit.id, user_id=u.id,
                                                 scheduled_start=start)
                                for u in users if u.role == "doctor")
                logins = [UserSession(id=f"bench{tag}{room}x{seat}", user_id=u.id,
                                      kind="bearer", expires_at=start + timedelta(hours=6))
                          for seat, u in enumerate(users)]
                session.add_all(logins)
                layout.append([Seat(visit.id, u.id, "clinician" if u.role == "doctor"
                                    else "patient", login.id)
                               for u, login in zip(users, logins, strict=True)])
                if room % 200 == 199:
                    await session.commit()
            await session.commit()
    finally:
        await engine.dispose()
    return layout


def _client(http: aiohttp.ClientSession, base: str, seat: Seat) -> SignallingClient:
    token = issue_join_token(SECRET, visit_id=seat.visit_id, user_id=seat.user_id,
                             role=seat.role, ttl=3600,  # type: ignore[arg-type]
                             session_id=seat.session_id)
    return SignallingClient(http, f"{base.replace('http', 'ws')}/ws/visits/{seat.visit_id}",
                            token, origin=base)


async def _joined(http: aiohttp.ClientSession, base: str, seat: Seat) -> SignallingClient:
    client = await _client(http, base, seat).connect()
    await client.send(m.Join())
    await client.expect(m.Welcome, within=30)
    return client


async def bench_idle(base: str, pid: int, layout: list[list[Seat]], count: int) -> None:
    seats = [seat for room in layout for seat in room][:count]
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        await asyncio.sleep(0.5)
        before = _rss_kib(pid)
        clients: list[SignallingClient] = []
        started = time.perf_counter()
        for first in range(0, len(seats), 200):
            batch = seats[first:first + 200]
            clients.extend(await asyncio.gather(*(_joined(http, base, s) for s in batch)))
        opened = time.perf_counter() - started
        await asyncio.sleep(2)
        after = _rss_kib(pid)
        # Still alive: every room answers a ping.
        probes = clients[:: max(1, len(clients) // 50)]
        for client in probes:
            await client.send(m.Ping())
        for client in probes:
            await client.expect(m.Pong, within=10)
        print(f"idle: {len(clients)} connections joined in {opened:.1f} s "
              f"({len(clients) / opened:.0f}/s); server RSS {before / 1024:.1f} → "
              f"{after / 1024:.1f} MiB, {(after - before) / len(clients):.1f} KiB per connection")
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


async def bench_relay(base: str, layout: list[list[Seat]], rate: int, seconds: float) -> None:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        pairs: list[tuple[SignallingClient, SignallingClient, str]] = []
        for room in layout:
            a = await _joined(http, base, room[0])
            b = await _joined(http, base, room[1])
            a_id = (await a.expect(m.PeerJoined, within=10)).peer.peer_id  # b's id
            pairs.append((a, b, a_id))
        latencies: list[float] = []
        received = 0
        expected = int(rate * seconds)
        all_in = asyncio.Event()

        async def receive(client: SignallingClient) -> None:
            nonlocal received
            with contextlib.suppress(Exception):
                while True:
                    message = await client.receive(within=seconds + 5)
                    if isinstance(message, m.SignalFrom):
                        latencies.append(time.perf_counter() - float(message.data["t"]))
                        received += 1
                        if received >= expected:
                            all_in.set()

        receivers = [asyncio.ensure_future(receive(b)) for _, b, _ in pairs]
        interval = 1 / rate
        started = time.perf_counter()
        payload = "x" * 200  # about the size of an ICE candidate
        for index in range(expected):
            sender, _, target = pairs[index % len(pairs)]
            due = started + index * interval
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            assert sender.ws is not None
            await sender.ws.send_str(m.dump(m.Signal(to=target, data={
                "candidate": payload, "t": time.perf_counter()})))
        sent_for = time.perf_counter() - started
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_in.wait(), 5)
        for task in receivers:
            task.cancel()
        await asyncio.gather(*receivers, return_exceptions=True)
        latencies.sort()
        p50 = latencies[len(latencies) // 2] * 1000
        p99 = latencies[int(len(latencies) * 0.99)] * 1000
        print(f"relay: {len(pairs)} rooms, {expected} signals in {sent_for:.1f} s "
              f"({expected / sent_for:.0f} msg/s offered), {received} relayed; "
              f"latency p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {latencies[-1] * 1000:.1f} ms")
        await asyncio.gather(*(c.close() for a, b, _ in pairs for c in (a, b)),
                             return_exceptions=True)


async def bench_join(base: str, layout: list[list[Seat]], joins: int) -> None:
    durations = []
    async with aiohttp.ClientSession() as http:
        for room in layout[:joins]:
            doctor = MeshPeer(_client(http, base, room[0]), audio=False)
            patient = MeshPeer(_client(http, base, room[-1]), audio=False)
            await doctor.client.connect()
            await patient.client.connect()
            try:
                await doctor.join()
                started = time.perf_counter()
                await patient.join()
                knock = await doctor.next_event(m.Knock)
                await doctor.client.send(m.Admit(peer_id=knock.peer.peer_id))
                async with asyncio.timeout(20):
                    await doctor.next_event(m.PeerJoined)  # handled: the link exists
                    await patient.next_event(m.Admitted)
                    for peer in (doctor, patient):
                        for link in peer.links.values():
                            await link.connected.wait()
                durations.append(time.perf_counter() - started)
            finally:
                await doctor.close()
                await patient.close()
    durations.sort()
    print(f"join → connected (aiortc, {len(durations)} televisits): median "
          f"{statistics.median(durations) * 1000:.0f} ms, max {durations[-1] * 1000:.0f} ms")


def main(args: argparse.Namespace) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (20_000, 20_000))
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        port = free_port()
        settings = _settings(data_dir, port)
        migrate.upgrade(settings.effective_database_url)  # outside any event loop
        asyncio.run(run(args, data_dir, port, settings))


async def run(args: argparse.Namespace, data_dir: Path, port: int, settings: Settings) -> None:
    idle_rooms = -(-args.idle // ROOM_SIZE)
    idle_layout = await _seed(settings, "I", idle_rooms, "teleconsult", ROOM_SIZE)
    relay_layout = await _seed(settings, "R", args.rooms, "teleconsult", 2)
    join_layout = await _seed(settings, "J", args.joins, "televisit", 2)
    server = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(str(data_dir), port), daemon=True)
    server.start()
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{base}/healthz") as resp:
                        if resp.status == 200:
                            break
                await asyncio.sleep(0.1)
        assert server.pid is not None
        print(f"server pid {server.pid}, cores {os.cpu_count()}")
        if args.idle:
            await bench_idle(base, server.pid, idle_layout, args.idle)
        if args.rooms:
            await bench_relay(base, relay_layout, args.rate, args.seconds)
        if args.joins:
            await bench_join(base, join_layout, args.joins)
    finally:
        server.terminate()
        server.join(10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=int, default=5000)
    parser.add_argument("--rooms", type=int, default=500)
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--joins", type=int, default=10)
    main(parser.parse_args())
