"""A televisit across two real `telemed web` OS processes carries real media.

Two `telemed web` processes share one fresh PostgreSQL database, one Redis (a unique key
prefix) and the `broker` fixture's Mosquitto (the processes need MQTT settings to be ready).
The doctor fetches join details from web #1 and opens the visit's WebSocket there; the
patient does both on web #2. Web #1 owns the room (the doctor joined first); web #2
forwards the patient's frames over Redis. The doctor admits the patient; two aiortc peers
(`telemed.signalling.client.MeshPeer`) negotiate through the two processes, reach ICE
"connected" and decode video and audio frames both ways. Each process's /metrics counts its
own socket; the end of the visit is stored and both gauges fall back to zero.

Then the process holding the room is killed with SIGKILL mid-call: the patient's socket on the
other process is told to join again (1012) once the room's lease lapses, and both meet again
there, with media.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from telemed.signalling import messages as m
from telemed.signalling.client import MeshPeer, SignallingClient
from tests.integration.cluster import PASSWORD, Api, Cluster, TelemedProcess

pytestmark = [pytest.mark.postgres, pytest.mark.broker]

FRAMES = 5  # decoded video frames each side must receive



async def add_user(cluster: Cluster, username: str, *args: str) -> str:
    """`telemed user add USERNAME ARGS` with the test password; the new user's id."""
    out = await cluster.cli("user", "add", username, *args, "--password-stdin",
                            stdin=PASSWORD + "\n")
    return out.strip().splitlines()[-1]


async def open_socket(http: aiohttp.ClientSession, proc: TelemedProcess,
                      join: dict[str, Any]) -> SignallingClient:
    """The visit's WebSocket on `proc`, as a page served by `proc` would open it."""
    assert join["ws_url"].startswith(f"ws://127.0.0.1:{proc.port}/ws/visits/"), join
    return await SignallingClient(http, join["ws_url"], join["token"], origin=proc.url).connect()


async def metric_becomes(proc: TelemedProcess, name: str, value: float,
                         within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    got = await proc.metric(name)
    while got != value:
        if time.monotonic() > deadline:
            raise AssertionError(f"{proc.name}: {name} is {got}, expected {value}")
        await asyncio.sleep(0.05)
        got = await proc.metric(name)


async def status_becomes(api: Api, visit_id: str, status: str, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    got = (await api.get(f"/api/v1/visits/{visit_id}"))["status"]
    while got != status:
        if time.monotonic() > deadline:
            raise AssertionError(f"visit {visit_id} is {got}, expected {status}")
        await asyncio.sleep(0.05)
        got = (await api.get(f"/api/v1/visits/{visit_id}"))["status"]


async def closed_with(client: SignallingClient, within: float) -> int | None:
    """The close code, once the socket (read by its peer's pump) has closed."""
    async with asyncio.timeout(within):
        while client.ws is None or not client.ws.closed:  # noqa: ASYNC110 - the pump reads
            await asyncio.sleep(0.05)
    return client.close_code


async def frames_both_ways(peers: tuple[MeshPeer, MeshPeer], within: float = 20.0) -> None:
    try:
        async with asyncio.timeout(within):
            while True:
                counts = [link.frames["video"] for peer in peers for link in peer.links.values()]
                if len(counts) == 2 and min(counts) >= FRAMES:
                    return
                await asyncio.sleep(0.05)
    except TimeoutError:
        states = [(link.pc.connectionState, link.pc.iceConnectionState, dict(link.frames))
                  for peer in peers for link in peer.links.values()]
        raise AssertionError(f"no media both ways within {within} s: {states}") from None


async def schedule(http: aiohttp.ClientSession, web1: TelemedProcess, web2: TelemedProcess,
                   doctor_id: str) -> tuple[Api, Api, str]:
    """A televisit of a new patient: the doctor's API on web #1, the patient's on web #2."""
    doctor_api = Api(http, web1.url)
    await doctor_api.login("dr.televisit")
    patient_id = await doctor_api.create_patient(7)  # the doctor joins its care team
    admin_api = Api(http, web2.url)
    await admin_api.login("admin.televisit")
    created = await admin_api.post("/api/v1/users", {
        "username": "pt.televisit", "role": "patient",
        "display_name": "Pt Televisit", "patient_id": patient_id})
    token = str(created["activation_url"]).split("token=", 1)[1]
    await admin_api.post("/api/v1/auth/activate", {"token": token, "password": PASSWORD})
    patient_api = Api(http, web2.url)
    await patient_api.login("pt.televisit")
    start = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    visit = await doctor_api.post("/api/v1/visits", {
        "kind": "televisit", "patient_id": patient_id, "participant_ids": [doctor_id],
        "scheduled_start": start, "duration_minutes": 30})
    assert visit["status"] == "scheduled"
    return doctor_api, patient_api, str(visit["id"])


async def start_pair(cluster: Cluster) -> tuple[TelemedProcess, TelemedProcess, str]:
    """Two `telemed web` processes, a doctor and an administrator; the doctor's id."""
    web1 = cluster.process("web", "web1")
    web2 = cluster.process("web", "web2")
    doctor_id, _admin_id, *_ = await asyncio.gather(
        add_user(cluster, "dr.televisit", "--role", "doctor"),
        add_user(cluster, "admin.televisit", "--role", "admin"),
        web1.start(), web2.start())
    assert web1.pid != web2.pid
    return web1, web2, doctor_id


async def meet(http: aiohttp.ClientSession, doctor_at: TelemedProcess, doctor_api: Api,
               patient_at: TelemedProcess, patient_api: Api, visit_id: str,
               peers: list[MeshPeer]) -> tuple[MeshPeer, MeshPeer]:
    """Doctor joins, the patient knocks and is admitted, media flows both ways."""
    doctor_join = await doctor_api.get(f"/api/v1/visits/{visit_id}/join")
    patient_join = await patient_api.get(f"/api/v1/visits/{visit_id}/join")
    doctor = MeshPeer(await open_socket(http, doctor_at, doctor_join))
    peers.append(doctor)
    d_welcome = await doctor.join()
    patient = MeshPeer(await open_socket(http, patient_at, patient_join))
    peers.append(patient)
    p_welcome = await patient.join(m.Precall(verdict="good", rtt_ms=10.0, audio=True,
                                             video=True))
    if p_welcome.state == "waiting":
        assert (await doctor.next_event(m.Knock)).peer.peer_id == p_welcome.peer_id
        await doctor.client.send(m.Admit(peer_id=p_welcome.peer_id))
        await patient.next_event(m.Admitted)
    assert d_welcome.state == "admitted"
    await frames_both_ways((doctor, patient))
    return doctor, patient


async def test_doctor_and_patient_on_two_web_processes_hold_a_televisit(
    cluster: Cluster,
) -> None:
    web1, web2, doctor_id = await start_pair(cluster)
    peers: list[MeshPeer] = []
    async with asyncio.timeout(60), aiohttp.ClientSession() as http:
        try:
            doctor_api, patient_api, visit_id = await schedule(http, web1, web2, doctor_id)

            doctor_join = await doctor_api.get(f"/api/v1/visits/{visit_id}/join")
            patient_join = await patient_api.get(f"/api/v1/visits/{visit_id}/join")
            assert (doctor_join["role"], patient_join["role"]) == ("clinician", "patient")

            doctor = MeshPeer(await open_socket(http, web1, doctor_join))
            peers.append(doctor)
            d_welcome = await doctor.join()
            assert d_welcome.state == "admitted" and d_welcome.participants == ()

            patient = MeshPeer(await open_socket(http, web2, patient_join))
            peers.append(patient)
            p_welcome = await patient.join(m.Precall(verdict="good", rtt_ms=10.0, audio=True,
                                                     video=True))
            assert p_welcome.state == "waiting"
            knock = await doctor.next_event(m.Knock)
            assert knock.peer.peer_id == p_welcome.peer_id
            assert knock.precall is not None and knock.precall.verdict == "good"
            assert patient.links == {} and doctor.links == {}  # nothing flows to the waiting room

            await doctor.client.send(m.Admit(peer_id=p_welcome.peer_id))
            admitted = await patient.next_event(m.Admitted)
            assert [p.peer_id for p in admitted.participants] == [d_welcome.peer_id]
            await frames_both_ways((doctor, patient))
            for peer, other in ((doctor, p_welcome.peer_id), (patient, d_welcome.peer_id)):
                assert list(peer.links) == [other]
                link = peer.links[other]
                assert link.connected.is_set()
                assert link.pc.connectionState == "connected"
                assert link.pc.iceConnectionState in ("connected", "completed")
                assert link.frames["audio"] > 0

            # One socket on each process; the room lives on web #1 only (web #2 forwards).
            for proc in (web1, web2):
                assert await proc.metric("telemed_websockets") == 1, proc.name
            assert await web1.metric("telemed_active_visits") == 1
            assert await web2.metric("telemed_active_visits") == 0
            await status_becomes(patient_api, visit_id, "in_progress")

            await doctor.client.send(m.End())
            await doctor.next_event(m.Ended)
            await patient.next_event(m.Ended)
            await status_becomes(doctor_api, visit_id, "completed")
        finally:
            for peer in peers:
                await peer.close()
        for proc in (web1, web2):
            await metric_becomes(proc, "telemed_websockets", 0)
        await metric_becomes(web1, "telemed_active_visits", 0)

    for proc in (web1, web2):
        assert proc.running, proc.log_tail()
        errors = [line for line in proc.log_lines() if line.get("level") in ("ERROR", "CRITICAL")]
        assert errors == [], errors


async def test_the_visit_survives_the_web_process_that_held_its_room(
    cluster: Cluster,
) -> None:
    """SIGKILL of the process owning the room: the patient's socket on the other process is
    told to join again once the room's lease lapses; both meet again there, with media."""
    web1, web2, doctor_id = await start_pair(cluster)
    peers: list[MeshPeer] = []
    async with asyncio.timeout(90), aiohttp.ClientSession() as http:
        try:
            doctor_api, patient_api, visit_id = await schedule(http, web1, web2, doctor_id)
            doctor, patient = await meet(http, web1, doctor_api, web2, patient_api, visit_id,
                                         peers)
            assert await web1.metric("telemed_active_visits") == 1  # the room is on web #1

            assert web1.proc is not None
            web1.proc.kill()  # no goodbye: its lease on the room lapses after 10 s
            await web1.proc.wait()
            assert await closed_with(patient.client, 25) == 1012
            for peer in (doctor, patient):
                await peer.close()

            # The load balancer now sends everybody to web #2.
            doctor_api2 = Api(http, web2.url)
            doctor_api2.token = doctor_api.token  # tokens are valid on every process
            await meet(http, web2, doctor_api2, web2, patient_api, visit_id, peers)
            assert await web2.metric("telemed_active_visits") == 1
            await status_becomes(patient_api, visit_id, "in_progress")
        finally:
            for peer in peers:
                await peer.close()
    assert web2.running, web2.log_tail()
