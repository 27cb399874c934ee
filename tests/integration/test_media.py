"""Real media through the real server: aiortc peers hold visits; the pre-call echo works."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError

from telemed.signalling import messages as m
from telemed.signalling.client import MeshPeer, SyntheticVideo
from tests.conftest import World
from tests.integration.visit_helpers import connect, make_visit

FRAMES = 5


async def _frames_both_ways(peers: list[MeshPeer], within: float = 20.0) -> None:
    async with asyncio.timeout(within):
        while True:
            counts = [link.frames["video"] for peer in peers for link in peer.links.values()]
            expected = len(peers) * (len(peers) - 1)
            if len(counts) == expected and min(counts) >= FRAMES:
                return
            await asyncio.sleep(0.1)


async def test_televisit_with_two_aiortc_peers(client: TestClient[Any, Any],
                                               world: World) -> None:
    setup = await make_visit(world)
    doctor = MeshPeer(await connect(client, setup, setup.doctor))
    patient = MeshPeer(await connect(client, setup, setup.patient_user))
    try:
        await doctor.join()
        welcome = await patient.join(m.Precall(verdict="good", rtt_ms=12.0, audio=True,
                                               video=True))
        assert welcome.state == "waiting"
        knock = await doctor.next_event(m.Knock)
        assert knock.precall is not None and knock.precall.verdict == "good"
        assert patient.links == {}  # nothing flows to a waiting patient
        await doctor.client.send(m.Admit(peer_id=knock.peer.peer_id))
        await patient.next_event(m.Admitted)
        await _frames_both_ways([doctor, patient])
        for peer in (doctor, patient):
            [link] = peer.links.values()
            assert link.pc.connectionState == "connected"
            assert link.frames["audio"] > 0
    finally:
        await doctor.close()
        await patient.close()


async def test_teleconsult_mesh_of_three(client: TestClient[Any, Any], world: World) -> None:
    setup = await make_visit(world, kind="teleconsult", clinicians=3)
    peers = [MeshPeer(await connect(client, setup, doctor), audio=False)
             for doctor in setup.doctors]
    try:
        for peer in peers:
            await peer.join()
        await _frames_both_ways(peers, within=30)
        for peer in peers:
            assert len(peer.links) == 2
            assert {link.polite for link in peer.links.values()} <= {True, False}
    finally:
        for peer in peers:
            await peer.close()


async def test_precall_echo_returns_media_and_answers_ping(
    client: TestClient[Any, Any], world: World
) -> None:
    user = await world.user("patient", patient_id=(await world.patient()).id)
    headers = await world.token(user["username"])
    pc = RTCPeerConnection()
    received: dict[str, int] = {"video": 0, "audio": 0}
    pong = asyncio.get_running_loop().create_future()
    tasks: list[asyncio.Task[None]] = []

    async def consume(track: Any) -> None:
        try:
            while True:
                await track.recv()
                received[track.kind] += 1
        except MediaStreamError:
            return

    @pc.on("track")
    def on_track(track: Any) -> None:
        tasks.append(asyncio.ensure_future(consume(track)))

    channel = pc.createDataChannel("precall")

    @channel.on("open")
    def on_open() -> None:
        channel.send("ping 1")

    @channel.on("message")
    def on_message(message: Any) -> None:
        if not pong.done():
            pong.set_result(message)

    pc.addTrack(AudioStreamTrack())
    pc.addTrack(SyntheticVideo())
    try:
        await pc.setLocalDescription(await pc.createOffer())
        resp = await client.post("/api/v1/precall/offer", headers=headers, json={
            "sdp": pc.localDescription.sdp, "type": pc.localDescription.type})
        assert resp.status == 200, await resp.text()
        answer = await resp.json()
        assert answer["type"] == "answer"
        await pc.setRemoteDescription(RTCSessionDescription(**answer))
        assert await asyncio.wait_for(pong, 10) == "pong 1"
        async with asyncio.timeout(15):
            while received["video"] < FRAMES or received["audio"] < FRAMES:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        bad = await client.post("/api/v1/precall/offer", headers=headers,
                                json={"sdp": "v=0 nonsense", "type": "offer"})
        assert bad.status == 422
        wrong = await client.post("/api/v1/precall/offer", headers=headers,
                                  json={"sdp": pc.localDescription.sdp, "type": "answer"})
        assert wrong.status == 422
    finally:
        for task in tasks:
            task.cancel()
        await pc.close()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_precall_is_bounded(client: TestClient[Any, Any], world: World, app: Any) -> None:
    from telemed.precall.echo import ECHO

    echo = app[ECHO]
    echo.limit = 1
    users = [await world.user("doctor") for _ in range(2)]
    offers: list[RTCPeerConnection] = []
    statuses = []
    try:
        for user in users:
            pc = RTCPeerConnection()
            offers.append(pc)
            pc.addTrack(AudioStreamTrack())
            await pc.setLocalDescription(await pc.createOffer())
            resp = await client.post("/api/v1/precall/offer",
                                     headers=await world.token(user["username"]),
                                     json={"sdp": pc.localDescription.sdp, "type": "offer"})
            statuses.append(resp.status)
        assert statuses == [200, 429]
        echo.clock = lambda: 10**12  # every peer is past its time
        await echo.reap()
        assert echo.peers == {}
    finally:
        for pc in offers:
            await pc.close()
