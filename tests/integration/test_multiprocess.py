"""Two web processes (two apps on one PostgreSQL database and one Redis) act as one site.

Each test builds two `create_app(..., "web")` instances served by two test servers, as two
`telemed web` processes behind a load balancer without affinity would be: signalling peers
of one visit on different processes meet; an alert published on one reaches SSE streams on
the other.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.app import create_app
from telemed.bus import ALERTS, RedisBus
from telemed.settings import Settings, load_settings
from telemed.signalling import cluster as cluster_module
from telemed.signalling import messages as m
from telemed.signalling.client import MeshPeer
from telemed.signalling.cluster import CLUSTER
from telemed.signalling.hub import HUB
from tests.conftest import World
from tests.helpers.redis import REDIS_URL, redis_available
from tests.integration.sse import next_event
from tests.integration.visit_helpers import VisitSetup, connect, joined, make_visit, status_becomes

pytestmark = pytest.mark.postgres

Clients = tuple[TestClient[Any, Any], TestClient[Any, Any]]


def _settings(tmp_path: Path, database_url: str, prefix: str, name: str) -> Settings:
    data = tmp_path / name
    data.mkdir()
    return load_settings(
        env="test", data_dir=data, database_url=database_url, redis_url=REDIS_URL,
        redis_prefix=prefix, secret_key="test-secret-key-0123456789-abcdefghij",
        public_url="http://127.0.0.1:8080", language="en", api_rate_per_minute=1_000_000,
        scheduler_interval=0)


@pytest.fixture
async def pair(
    tmp_path: Path, migrated_postgres_url: str, monkeypatch: pytest.MonkeyPatch,
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient[Any, Any]]],
) -> AsyncIterator[Clients]:
    await redis_available()
    # Leases renewed every 0.3 s rather than 3 s (still well within their 10 s): what the
    # tests wait for happens on a renewal.
    monkeypatch.setattr(cluster_module, "RENEW_SECONDS", 0.3)
    postgres_url = migrated_postgres_url
    prefix = f"telemed-test:{secrets.token_hex(6)}:"
    one = await aiohttp_client(create_app(_settings(tmp_path, postgres_url, prefix, "a"), "web"))
    two = await aiohttp_client(create_app(_settings(tmp_path, postgres_url, prefix, "b"), "web"))
    assert isinstance(one.app[keys.BUS], RedisBus)
    yield one, two


@pytest.fixture
def world(pair: Clients) -> World:
    return World(pair[0].app, pair[0])


async def test_readyz_reports_the_redis_bus(pair: Clients) -> None:
    for client in pair:
        resp = await client.get("/readyz")
        body = await resp.json()
        assert body["checks"]["bus"] == "ok" and body["checks"]["database"] == "ok"


async def test_peers_on_two_processes_meet(pair: Clients, world: World) -> None:
    one, two = pair
    setup = await make_visit(world)
    # The patient arrives first, on process two: the room is owned there.
    patient = await connect(two, setup, setup.patient_user)
    await patient.send(m.Join())
    p_welcome = await patient.expect(m.Welcome)
    assert p_welcome.state == "waiting"
    await status_becomes(world, setup.visit_id, "waiting")

    doctor = await connect(one, setup, setup.doctor)
    await doctor.send(m.Join())
    d_welcome = await doctor.expect(m.Welcome)
    assert d_welcome.state == "admitted" and d_welcome.participants == ()
    knock = await doctor.expect(m.Knock)
    assert knock.peer.peer_id == p_welcome.peer_id

    # Refusals made on the owner come back to the remote socket.
    await doctor.send(m.Signal(to=p_welcome.peer_id, data={"sdp": {"type": "offer"}}))
    assert (await doctor.expect(m.Error)).code == "unknown_peer"

    await doctor.send(m.Admit(peer_id=p_welcome.peer_id))
    admitted = await patient.expect(m.Admitted)
    assert [p.peer_id for p in admitted.participants] == [d_welcome.peer_id]
    joined = await doctor.expect(m.PeerJoined)
    assert joined.peer.peer_id == p_welcome.peer_id
    await status_becomes(world, setup.visit_id, "in_progress")

    await doctor.send(m.Signal(to=p_welcome.peer_id, data={"sdp": {"type": "offer",
                                                                    "sdp": "v=0"}}))
    relayed = await patient.expect(m.SignalFrom)
    assert relayed.from_ == d_welcome.peer_id and relayed.data["sdp"]["sdp"] == "v=0"
    await patient.send(m.Signal(to=d_welcome.peer_id, data={"candidate": None}))
    assert (await doctor.expect(m.SignalFrom)).from_ == p_welcome.peer_id

    await doctor.send(m.Chat(text="Buongiorno"))
    for side in (doctor, patient):
        line = await side.expect(m.ChatFrom)
        assert line.text == "Buongiorno" and line.seq == 1

    # A dropped socket resumes on the other process and keeps its peer id.
    await doctor.close()
    room = two.app[HUB].rooms[setup.visit_id]  # process two owns the room
    async with asyncio.timeout(5):
        while room.peers[d_welcome.peer_id].connected:  # noqa: ASYNC110 - the disconnect crossed over
            await asyncio.sleep(0.02)
    await patient.send(m.Signal(to=d_welcome.peer_id, data={"candidate": None}))
    again = await connect(two, setup, setup.doctor)
    await again.send(m.Join(resume_token=d_welcome.resume_token, last_seq=1))
    resumed = await again.expect(m.Welcome)
    assert resumed.resumed and resumed.peer_id == d_welcome.peer_id
    assert (await again.expect(m.SignalFrom)).from_ == p_welcome.peer_id  # kept meanwhile

    await again.send(m.End())
    await again.expect(m.Ended)
    await patient.expect(m.Ended)
    await status_becomes(world, setup.visit_id, "completed")
    await patient.close()
    await again.close()


async def test_aiortc_peers_on_two_processes_connect(pair: Clients, world: World) -> None:
    one, two = pair
    setup = await make_visit(world)
    doctor = MeshPeer(await connect(one, setup, setup.doctor))
    patient = MeshPeer(await connect(two, setup, setup.patient_user))
    try:
        await doctor.join()
        await patient.join()
        knock = await doctor.next_event(m.Knock)
        await doctor.client.send(m.Admit(peer_id=knock.peer.peer_id))
        await patient.next_event(m.Admitted)
        async with asyncio.timeout(20):
            while True:
                counts = [link.frames.get("video", 0)
                          for peer in (doctor, patient) for link in peer.links.values()]
                if len(counts) == 2 and min(counts) >= 5:
                    break
                await asyncio.sleep(0.1)
        for peer in (doctor, patient):
            [link] = peer.links.values()
            assert link.pc.connectionState == "connected"
    finally:
        await doctor.close()
        await patient.close()


async def test_an_alert_published_on_one_process_reaches_streams_on_the_other(
    pair: Clients, world: World,
) -> None:
    one, two = pair
    doctor = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    headers = await world.token(doctor["username"])
    resp = await two.get("/api/v1/alerts/stream", headers=headers)
    assert resp.status == 200
    bus: Any = two.app[keys.BUS]
    async with asyncio.timeout(5):
        while bus.subscriber_count(ALERTS) < 1:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)  # the stream's Redis subscription is confirmed
    alert = {"id": "a1", "seq": 7, "patient_id": patient.id, "kind": "threshold",
             "severity": "critical", "status": "open"}
    await one.app[keys.BUS].publish(ALERTS, {"seq": 7, "patient_id": patient.id,
                                             "alert": alert, "change": "opened",
                                             "notify": True})
    event = await next_event(resp)
    assert event.id == "7" and event.data["id"] == "a1" and event.data["change"] == "opened"
    resp.close()


async def _knocking(pair: Clients, world: World) -> tuple[VisitSetup, Any, Any]:
    """A visit whose waiting patient is on process one (the owner), the doctor on two."""
    one, two = pair
    setup = await make_visit(world)
    patient, _ = await joined(one, setup, setup.patient_user)
    doctor, _ = await joined(two, setup, setup.doctor)
    await doctor.expect(m.Knock)
    return setup, patient, doctor


async def _closed_with(peer: Any, seconds: float = 10) -> int | None:
    async with asyncio.timeout(seconds):
        while True:
            frame = await peer.ws.receive()
            if frame.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                              aiohttp.WSMsgType.CLOSING):
                return peer.ws.close_code  # type: ignore[no-any-return]


async def test_a_closed_process_does_not_take_the_visit_with_it(
    pair: Clients, world: World,
) -> None:
    """Sockets whose room's owner went away are told to join again (1012 or 1013)."""
    one = pair[0]
    _, _, doctor = await _knocking(pair, world)
    await one.close()  # the owner shuts down: its sockets close with 1001
    await doctor.send(m.Chat(text="anyone?"))
    assert await _closed_with(doctor, 15) in (1012, 1013, 1000)


async def test_an_idle_socket_learns_that_its_room_owner_is_gone(
    pair: Clients, world: World,
) -> None:
    """A forwarded socket that sends nothing (the doctor here) is told to join again too."""
    one = pair[0]
    setup, _, doctor = await _knocking(pair, world)
    await one.close()  # the owner goes away; the doctor's socket on two stays silent
    assert await _closed_with(doctor, 10) == 1012
    again = await connect(pair[1], setup, setup.doctor)
    await again.send(m.Join())
    assert (await again.expect(m.Welcome)).state == "admitted"  # a new room, on two
    await again.close()


async def test_a_process_that_lost_the_lease_gives_the_room_up(
    pair: Clients, world: World,
) -> None:
    """Two rooms for one visit never last: the process whose lease was taken closes its own."""
    one, two = pair
    setup, patient, doctor = await _knocking(pair, world)
    hub_one, hub_two = one.app[HUB], two.app[HUB]
    assert setup.visit_id in hub_one.rooms
    cluster_one, cluster_two = one.app[CLUSTER], two.app[CLUSTER]

    # Process one's lease lapses (as if Redis lost the key) and process two takes it.
    await cluster_one.leases.release(f"visit:{setup.visit_id}", cluster_one.node)
    assert await cluster_two.owner_of(setup.visit_id) == cluster_two.node

    # On its next renewal process one closes every socket of its room, here and remote.
    assert await _closed_with(patient) == 1012
    assert await _closed_with(doctor) == 1012
    assert setup.visit_id not in hub_one.rooms

    # Both join again and meet in one room (process two had none, so it let the lease go).
    patient = await connect(one, setup, setup.patient_user)
    await patient.send(m.Join())
    p_welcome = await patient.expect(m.Welcome)
    doctor = await connect(two, setup, setup.doctor)
    await doctor.send(m.Join())
    await doctor.expect(m.Welcome)
    assert (await doctor.expect(m.Knock)).peer.peer_id == p_welcome.peer_id
    assert (setup.visit_id in hub_one.rooms) != (setup.visit_id in hub_two.rooms)
    await patient.close()
    await doctor.close()
