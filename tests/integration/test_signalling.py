"""The signalling WebSocket through the real server, with real `ws_connect` peers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.services.visit_tokens import issue_join_token
from telemed.signalling import messages as m
from telemed.signalling.guard import MAX_FRAME_BYTES, RATE_BURST
from telemed.signalling.hub import HUB
from telemed.signalling.rooms import RESUME_SECONDS
from tests.conftest import World
from tests.integration.visit_helpers import (
    close_code,
    connect,
    join_info,
    joined,
    make_visit,
    status_becomes,
)

PRECALL = m.Precall(verdict="good", rtt_ms=42.0, audio=True, video=True)


async def _admitted_pair(client: TestClient[Any, Any], world: World) -> tuple[Any, ...]:
    setup = await make_visit(world)
    doctor, d_welcome = await joined(client, setup, setup.doctor)
    patient, p_welcome = await joined(client, setup, setup.patient_user, m.Join(precall=PRECALL))
    await doctor.expect(m.Knock)
    await doctor.send(m.Admit(peer_id=p_welcome.peer_id))
    await patient.expect(m.Admitted)
    await doctor.expect(m.PeerJoined)
    return setup, doctor, d_welcome, patient, p_welcome


async def test_waiting_room_is_enforced_and_knock_carries_precall(
    client: TestClient[Any, Any], world: World
) -> None:
    setup = await make_visit(world)
    patient = await connect(client, setup, setup.patient_user)
    await patient.send(m.Join(precall=PRECALL))
    p_welcome = await patient.expect(m.Welcome)
    assert p_welcome.state == "waiting" and p_welcome.role == "patient"
    assert p_welcome.participants == ()
    await status_becomes(world, setup.visit_id, "waiting")

    doctor = await connect(client, setup, setup.doctor)
    await doctor.send(m.Join())
    d_welcome = await doctor.expect(m.Welcome)
    assert d_welcome.state == "admitted" and d_welcome.role == "clinician"
    assert d_welcome.participants == ()  # a waiting peer is nobody's participant
    knock = await doctor.expect(m.Knock)
    assert knock.peer.peer_id == p_welcome.peer_id and knock.peer.role == "patient"
    assert knock.precall == PRECALL

    # A waiting peer can signal nobody, chat with nobody, and nobody can signal it.
    await patient.send(m.Signal(to=d_welcome.peer_id, data={"sdp": {"type": "offer"}}))
    assert (await patient.expect(m.Error)).code == "not_admitted"
    await patient.send(m.Chat(text="hello?"))
    assert (await patient.expect(m.Error)).code == "not_admitted"
    await patient.send(m.Admit(peer_id=p_welcome.peer_id))
    assert (await patient.expect(m.Error)).code == "forbidden"
    await doctor.send(m.Signal(to=p_welcome.peer_id, data={"sdp": {"type": "offer"}}))
    assert (await doctor.expect(m.Error)).code == "unknown_peer"
    # ... and it saw nobody arrive.
    await patient.send(m.Ping())
    assert isinstance(await patient.receive(), m.Pong)
    assert patient.backlog == []
    await doctor.close()
    await patient.close()


async def test_admit_then_offer_answer_candidates_relayed_verbatim(
    client: TestClient[Any, Any], world: World
) -> None:
    setup, doctor, d_welcome, patient, p_welcome = await _admitted_pair(client, world)
    await status_becomes(world, setup.visit_id, "in_progress")
    offer = {"sdp": {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"},
             "extra": {"nested": [1, 2.5, None, "é"]}}
    await doctor.send(m.Signal(to=p_welcome.peer_id, data=offer))
    got = await patient.expect(m.SignalFrom)
    assert got.from_ == d_welcome.peer_id and dict(got.data) == offer
    answer = {"sdp": {"type": "answer", "sdp": "v=0\r\n"}}
    await patient.send(m.Signal(to=d_welcome.peer_id, data=answer))
    assert dict((await doctor.expect(m.SignalFrom)).data) == answer
    for index in range(3):
        candidate = {"candidate": {"candidate": f"candidate:{index} 1 udp 1 10.0.0.1 9 typ host",
                                   "sdpMid": "0", "sdpMLineIndex": 0}}
        await patient.send(m.Signal(to=d_welcome.peer_id, data=candidate))
        assert dict((await doctor.expect(m.SignalFrom)).data) == candidate
    end_of_candidates = {"candidate": None}
    await doctor.send(m.Signal(to=p_welcome.peer_id, data=end_of_candidates))
    assert dict((await patient.expect(m.SignalFrom)).data) == end_of_candidates
    await doctor.close()
    await patient.close()


async def test_polite_roles_are_complementary(
    client: TestClient[Any, Any], world: World
) -> None:
    setup = await make_visit(world, kind="teleconsult", clinicians=3)
    peers, welcomes = [], []
    for doctor in setup.doctors:
        peer = await connect(client, setup, doctor)
        await peer.send(m.Join())
        welcomes.append(await peer.expect(m.Welcome))
        peers.append(peer)
    polite: dict[tuple[str, str], bool] = {}
    for welcome in welcomes:
        for other in welcome.participants:
            polite[(welcome.peer_id, other.peer_id)] = bool(other.polite)
    for peer, welcome in zip(peers, welcomes, strict=True):
        while True:
            try:
                joined = await peer.expect(m.PeerJoined, within=0.3)
            except TimeoutError:
                break
            polite[(welcome.peer_id, joined.peer.peer_id)] = joined.polite
    ids = [w.peer_id for w in welcomes]
    for a in ids:
        for b in ids:
            if a != b:
                assert polite[(a, b)] != polite[(b, a)], "one of each pair is polite"
    for peer in peers:
        await peer.close()


async def test_chat_is_numbered_and_reaches_everyone(
    client: TestClient[Any, Any], world: World
) -> None:
    _, doctor, d_welcome, patient, _ = await _admitted_pair(client, world)
    await doctor.send(m.Chat(text="Buongiorno"))
    first = await patient.expect(m.ChatFrom)
    await patient.send(m.Chat(text="Buongiorno dottore"))
    d_lines = [await doctor.expect(m.ChatFrom), await doctor.expect(m.ChatFrom)]
    p_lines = [first, await patient.expect(m.ChatFrom)]
    assert [line.seq for line in d_lines] == [1, 2] == [line.seq for line in p_lines]
    assert d_lines[0].from_ == d_welcome.peer_id and d_lines[0].text == "Buongiorno"
    assert d_lines == p_lines
    await doctor.close()
    await patient.close()


async def test_resume_within_30_s_keeps_peer_and_replays_chat(
    client: TestClient[Any, Any], world: World
) -> None:
    setup, doctor, d_welcome, patient, p_welcome = await _admitted_pair(client, world)
    await doctor.send(m.Chat(text="one"))
    first = await patient.expect(m.ChatFrom)
    await doctor.expect(m.ChatFrom)
    await patient.close()  # the patient's network drops
    await asyncio.sleep(0.1)
    # Meanwhile the doctor chats and signals (an ICE restart offer).
    await doctor.send(m.Chat(text="two"))
    await doctor.send(m.Chat(text="three"))
    await doctor.send(m.Signal(to=p_welcome.peer_id, data={"sdp": {"type": "offer", "x": 1}}))
    doctor_noise = [await doctor.expect(m.ChatFrom), await doctor.expect(m.ChatFrom)]
    assert [line.seq for line in doctor_noise] == [2, 3]

    again = await connect(client, setup, setup.patient_user)
    await again.send(m.Join(resume_token=p_welcome.resume_token, last_seq=first.seq))
    welcome = await again.expect(m.Welcome)
    assert welcome.resumed and welcome.peer_id == p_welcome.peer_id
    assert welcome.state == "admitted"
    assert [p.peer_id for p in welcome.participants] == [d_welcome.peer_id]
    replay = [await again.expect(m.ChatFrom), await again.expect(m.ChatFrom)]
    assert [line.text for line in replay] == ["two", "three"]
    assert dict((await again.expect(m.SignalFrom)).data) == {"sdp": {"type": "offer", "x": 1}}
    # The doctor was never told the patient left.
    with pytest.raises(TimeoutError):
        await doctor.expect(m.PeerLeft, within=0.3)
    await again.close()
    await doctor.close()


async def test_resume_after_30_s_is_a_fresh_join(
    client: TestClient[Any, Any], world: World, app: Any
) -> None:
    hub = app[HUB]
    now = [1_000_000.0]
    hub.clock = lambda: now[0]
    setup, doctor, _, patient, p_welcome = await _admitted_pair(client, world)
    await patient.close()
    await asyncio.sleep(0.1)
    now[0] += RESUME_SECONDS + 1
    await hub.reap()
    assert (await doctor.expect(m.PeerLeft)).peer_id == p_welcome.peer_id
    again = await connect(client, setup, setup.patient_user)
    await again.send(m.Join(resume_token=p_welcome.resume_token, last_seq=0))
    welcome = await again.expect(m.Welcome)
    assert not welcome.resumed and welcome.peer_id != p_welcome.peer_id
    assert welcome.state == "waiting"
    assert (await doctor.expect(m.Knock)).peer.peer_id == welcome.peer_id
    await again.close()
    await doctor.close()


async def test_deny_and_end(client: TestClient[Any, Any], world: World) -> None:
    setup = await make_visit(world)
    doctor, _ = await joined(client, setup, setup.doctor)
    patient, p_welcome = await joined(client, setup, setup.patient_user)
    await doctor.expect(m.Knock)
    await doctor.send(m.Deny(peer_id=p_welcome.peer_id))
    await patient.expect(m.Denied)
    assert await close_code(patient) == 1000
    assert (await doctor.expect(m.PeerLeft)).peer_id == p_welcome.peer_id

    patient = await connect(client, setup, setup.patient_user)
    await patient.send(m.Join())
    p_welcome = await patient.expect(m.Welcome)
    await doctor.send(m.Admit(peer_id=(await doctor.expect(m.Knock)).peer.peer_id))
    await patient.expect(m.Admitted)
    await patient.send(m.End())
    assert (await patient.expect(m.Error)).code == "forbidden"
    await doctor.send(m.End())
    await doctor.expect(m.Ended)
    await patient.expect(m.Ended)
    assert await close_code(patient) == 1000
    visit = await status_becomes(world, setup.visit_id, "completed")
    assert visit.started_at and visit.ended_at
    # An ended visit cannot be joined again.
    resp = await client.get(f"/api/v1/visits/{setup.visit_id}/join",
                            headers=setup.headers[setup.doctor["username"]])
    assert resp.status == 409


async def test_refused_upgrades(client: TestClient[Any, Any], world: World, app: Any) -> None:
    setup = await make_visit(world)
    other = await make_visit(world)
    token = (await join_info(client, setup, setup.patient_user))["token"]
    url = f"/ws/visits/{setup.visit_id}?token={token}"
    cases = {
        "foreign origin": (url, {"Origin": "https://evil.example"}, 403),
        "no origin": (url, {}, 403),
        "other visit": (f"/ws/visits/{other.visit_id}?token={token}",
                        {"Origin": "http://127.0.0.1:8080"}, 403),
        "expired": (f"/ws/visits/{setup.visit_id}?token=" + issue_join_token(
            app[keys.SETTINGS].secret_key, visit_id=setup.visit_id,
            user_id=setup.patient_user["id"], role="patient", ttl=-5),
            {"Origin": "http://127.0.0.1:8080"}, 401),
        "forged": (url + "x", {"Origin": "http://127.0.0.1:8080"}, 401),
        "no token": (f"/ws/visits/{setup.visit_id}", {"Origin": "http://127.0.0.1:8080"}, 401),
    }
    for name, (target, headers, status) in cases.items():
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect(target, headers=headers)
        assert refused.value.status == status, name
    # The same token with the site's Origin works.
    ok = await client.ws_connect(url, headers={"Origin": "http://127.0.0.1:8080"})
    await ok.close()


async def test_oversized_messages_refused_then_1008(
    client: TestClient[Any, Any], world: World
) -> None:
    _, doctor, _, patient, _ = await _admitted_pair(client, world)
    big = json.dumps({"type": "chat", "text": "x" * (MAX_FRAME_BYTES + 10)})
    await patient.send_raw(big)
    assert (await patient.expect(m.Error)).code == "too_large"
    await patient.send(m.Ping())  # the connection still works
    await patient.expect(m.Pong)
    for _ in range(5):
        await patient.send_raw(big)
    assert await close_code(patient) == 1008
    await doctor.close()


async def test_flooding_is_rate_limited_then_1008(
    client: TestClient[Any, Any], world: World
) -> None:
    _, doctor, _, patient, _ = await _admitted_pair(client, world)
    for _ in range(int(RATE_BURST) + 50):
        await patient.send(m.Ping())
    codes = []
    async with asyncio.timeout(5):
        while True:
            assert patient.ws is not None
            frame = await patient.ws.receive()
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            message = m.parse_server(frame.data)
            if isinstance(message, m.Error):
                codes.append(message.code)
    assert "rate_limited" in codes and codes[-1] == "closing"
    assert patient.close_code == 1008
    # The doctor is unaffected.
    await doctor.send(m.Ping())
    await doctor.expect(m.Pong)
    await doctor.close()


async def test_bad_json_errors_then_1003(client: TestClient[Any, Any], world: World) -> None:
    setup = await make_visit(world)
    doctor = await connect(client, setup, setup.doctor)
    await doctor.send_raw("{not json")
    assert (await doctor.expect(m.Error)).code == "bad_json"
    await doctor.send(m.Join())
    await doctor.expect(m.Welcome)
    await doctor.send_raw('{"type": "chat", "text": 5}')
    assert (await doctor.expect(m.Error)).code == "bad_message"
    await doctor.send_raw("nope")
    await doctor.expect(m.Error)
    await doctor.send_raw("[")
    assert await close_code(doctor) == 1003


async def test_messages_before_join_and_join_timeout(
    client: TestClient[Any, Any], world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from telemed.signalling import ws as ws_module

    setup = await make_visit(world)
    doctor = await connect(client, setup, setup.doctor)
    await doctor.send(m.Chat(text="too early"))
    assert (await doctor.expect(m.Error)).code == "join_first"
    await doctor.close()
    monkeypatch.setattr(ws_module, "JOIN_TIMEOUT", 0.3)
    silent = await connect(client, setup, setup.doctor)
    assert await close_code(silent) == 1008


async def test_participant_limits(client: TestClient[Any, Any], world: World) -> None:
    setup = await make_visit(world, kind="teleconsult", clinicians=6)
    peers = []
    for doctor in setup.doctors:
        peer = await connect(client, setup, doctor)
        await peer.send(m.Join())
        await peer.expect(m.Welcome)
        peers.append(peer)
    seventh = await connect(client, setup, setup.patient_user)
    await seventh.send(m.Join())
    assert (await seventh.expect(m.Error)).code == "room_full"
    assert await close_code(seventh) == 1008
    for peer in peers:
        await peer.close()


async def test_same_person_twice_replaces_the_older_socket(
    client: TestClient[Any, Any], world: World
) -> None:
    setup = await make_visit(world)
    first = await connect(client, setup, setup.patient_user)
    await first.send(m.Join())
    await first.expect(m.Welcome)
    second = await connect(client, setup, setup.patient_user)
    await second.send(m.Join())
    assert (await second.expect(m.Welcome)).state == "waiting"
    assert await close_code(first) == 4001
    await second.close()


async def test_televisit_clinician_limit_at_scheduling(
    client: TestClient[Any, Any], world: World
) -> None:
    doctors = [await world.user("doctor") for _ in range(3)]
    patient = await world.patient(team=[d["id"] for d in doctors])
    headers = await world.token(doctors[0]["username"])
    resp = await client.post("/api/v1/visits", headers=headers, json={
        "kind": "televisit", "patient_id": patient.id,
        "participant_ids": [d["id"] for d in doctors],
        "scheduled_start": "2999-01-01T10:00:00+01:00", "duration_minutes": 20})
    assert resp.status == 422
    assert "participant_ids" in (await resp.json())["error"]["fields"]


async def test_shutdown_closes_sockets_with_1001(
    client: TestClient[Any, Any], world: World
) -> None:
    setup = await make_visit(world)
    doctor = await connect(client, setup, setup.doctor)
    await doctor.send(m.Join())
    await doctor.expect(m.Welcome)
    closer = asyncio.ensure_future(client.server.close())
    try:
        assert await close_code(doctor, within=10) == 1001
    finally:
        await closer
