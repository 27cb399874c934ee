"""Room state: waiting room, admission, politeness, chat, resume window, limits, ending."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from telemed.signalling import messages as m
from telemed.signalling.rooms import (
    CHAT_HISTORY,
    PENDING_SIGNALS,
    RESUME_SECONDS,
    Close,
    Outcome,
    Room,
    RoomError,
    Send,
    VisitKind,
)

T0 = 1_700_000_000.0


def make_room(kind: VisitKind = "televisit") -> Room:
    counter = itertools.count(1)
    return Room("visit1", kind, new_peer_id=lambda: f"p{next(counter)}")


def sent(outcome: Outcome, peer_id: str, kind: type[Any] | None = None) -> list[Any]:
    return [e.message for e in outcome.effects if isinstance(e, Send) and e.peer_id == peer_id
            and (kind is None or isinstance(e.message, kind))]


def closes(outcome: Outcome) -> dict[str, int]:
    return {e.peer_id: e.code for e in outcome.effects if isinstance(e, Close)}


def test_clinician_admitted_patient_waits_and_knocks() -> None:
    room = make_room()
    doc = room.join(user_id="u-doc", name="Dr", role="clinician", now=T0)
    assert doc.peer.state == "admitted" and doc.participants == ()
    assert doc.outcome.phase == "waiting"
    pre = m.Precall(verdict="fair", rtt_ms=180.0, audio=True, video=True)
    pat = room.join(user_id="u-pat", name="Pat", role="patient", now=T0, precall=pre)
    assert pat.peer.state == "waiting" and pat.participants == ()
    knocks = sent(pat.outcome, doc.peer.peer_id, m.Knock)
    assert knocks == [m.Knock(peer=pat.peer.info(), precall=pre)]
    assert sent(pat.outcome, pat.peer.peer_id) == []  # the waiting peer is told nothing


def test_a_clinician_arriving_later_gets_the_knocks() -> None:
    room = make_room()
    pat = room.join(user_id="u-pat", name="Pat", role="patient", now=T0)
    assert pat.outcome.effects == []
    doc = room.join(user_id="u-doc", name="Dr", role="clinician", now=T0)
    assert [k.peer.peer_id for k in sent(doc.outcome, doc.peer.peer_id, m.Knock)] == [
        pat.peer.peer_id]
    assert sent(doc.outcome, pat.peer.peer_id) == []


def test_waiting_peer_can_neither_signal_nor_be_signalled_nor_chat() -> None:
    room = make_room()
    doc = room.join(user_id="d", name="Dr", role="clinician", now=T0).peer
    pat = room.join(user_id="p", name="Pat", role="patient", now=T0).peer
    with pytest.raises(RoomError) as refused:
        room.signal(pat.peer_id, doc.peer_id, {"sdp": {}})
    assert refused.value.code == "not_admitted"
    with pytest.raises(RoomError) as refused:
        room.signal(doc.peer_id, pat.peer_id, {"sdp": {}})
    assert refused.value.code == "unknown_peer"
    with pytest.raises(RoomError):
        room.chat(pat.peer_id, "hi", now=T0)
    with pytest.raises(RoomError) as refused:
        room.admit(pat.peer_id, pat.peer_id)
    assert refused.value.code == "forbidden"


def test_admit_introduces_both_sides_with_complementary_politeness() -> None:
    room = make_room()
    doc = room.join(user_id="d", name="Dr", role="clinician", now=T0).peer
    pat = room.join(user_id="p", name="Pat", role="patient", now=T0).peer
    out = room.admit(doc.peer_id, pat.peer_id)
    [admitted] = sent(out, pat.peer_id, m.Admitted)
    [joined] = sent(out, doc.peer_id, m.PeerJoined)
    assert [p.peer_id for p in admitted.participants] == [doc.peer_id]
    assert admitted.participants[0].polite is not joined.polite
    assert out.phase == "in_progress"
    with pytest.raises(RoomError):
        room.admit(doc.peer_id, pat.peer_id)  # not waiting any more
    relayed = room.signal(pat.peer_id, doc.peer_id, {"sdp": {"type": "offer"}})
    assert sent(relayed, doc.peer_id) == [m.SignalFrom(from_=pat.peer_id,
                                                       data={"sdp": {"type": "offer"}})]


def test_deny_removes_and_closes() -> None:
    room = make_room()
    doc = room.join(user_id="d", name="Dr", role="clinician", now=T0).peer
    pat = room.join(user_id="p", name="Pat", role="patient", now=T0).peer
    out = room.deny(doc.peer_id, pat.peer_id)
    assert sent(out, pat.peer_id) == [m.Denied()]
    assert closes(out) == {pat.peer_id: 1000}
    assert sent(out, doc.peer_id) == [m.PeerLeft(peer_id=pat.peer_id)]
    assert pat.peer_id not in room.peers


def test_chat_numbers_and_history_bound() -> None:
    room = make_room()
    doc = room.join(user_id="d", name="Dr", role="clinician", now=T0).peer
    for index in range(CHAT_HISTORY + 5):
        out = room.chat(doc.peer_id, f"line {index}", now=T0 + index)
        assert out.chat is not None and out.chat.seq == index + 1
    assert len(room.history) == CHAT_HISTORY and room.history[0].seq == 6


def test_resume_keeps_id_state_pending_signals_and_replays_chat() -> None:
    room = make_room()
    doc = room.join(user_id="d", name="Dr", role="clinician", now=T0).peer
    pat = room.join(user_id="p", name="Pat", role="patient", now=T0).peer
    room.admit(doc.peer_id, pat.peer_id)
    room.chat(doc.peer_id, "one", now=T0)
    room.disconnect(pat.peer_id, generation=pat.generation, now=T0 + 1)
    room.chat(doc.peer_id, "two", now=T0 + 2)
    for index in range(PENDING_SIGNALS + 3):
        room.signal(doc.peer_id, pat.peer_id, {"candidate": index})
    back = room.resume(pat.peer_id, user_id="p", last_seq=1, now=T0 + RESUME_SECONDS)
    assert back.resumed and back.peer is pat and pat.state == "admitted"
    messages = sent(back.outcome, pat.peer_id)
    signals = [x for x in messages if isinstance(x, m.SignalFrom)]
    assert len(signals) == PENDING_SIGNALS and signals[-1].data == {
        "candidate": PENDING_SIGNALS + 2}
    assert [x.text for x in messages if isinstance(x, m.ChatFrom)] == ["two"]


def test_resume_refused_for_other_user_or_after_window() -> None:
    room = make_room()
    doc = room.join(user_id="d", name="Dr", role="clinician", now=T0).peer
    room.disconnect(doc.peer_id, generation=doc.generation, now=T0)
    with pytest.raises(RoomError):
        room.resume(doc.peer_id, user_id="someone-else", last_seq=0, now=T0 + 1)
    with pytest.raises(RoomError):
        room.resume(doc.peer_id, user_id="d", last_seq=0, now=T0 + RESUME_SECONDS + 0.1)


def test_expire_removes_dropped_peers_and_tells_the_others() -> None:
    room = make_room()
    doc = room.join(user_id="d", name="Dr", role="clinician", now=T0).peer
    pat = room.join(user_id="p", name="Pat", role="patient", now=T0).peer
    room.admit(doc.peer_id, pat.peer_id)
    room.disconnect(pat.peer_id, generation=pat.generation, now=T0)
    assert room.expire(T0 + RESUME_SECONDS).effects == []
    out = room.expire(T0 + RESUME_SECONDS + 1)
    assert sent(out, doc.peer_id) == [m.PeerLeft(peer_id=pat.peer_id)]
    room.disconnect(doc.peer_id, generation=doc.generation, now=T0)
    room.expire(T0 + 100)
    assert room.empty


def test_stale_socket_disconnect_is_ignored_after_resume() -> None:
    room = make_room()
    doc = room.join(user_id="d", name="Dr", role="clinician", now=T0).peer
    old_generation = doc.generation
    room.resume(doc.peer_id, user_id="d", last_seq=0, now=T0)  # new socket before old noticed
    room.disconnect(doc.peer_id, generation=old_generation, now=T0 + 1)
    assert doc.connected


def test_same_user_joining_again_replaces_the_old_peer() -> None:
    room = make_room()
    doc = room.join(user_id="d", name="Dr", role="clinician", now=T0).peer
    first = room.join(user_id="p", name="Pat", role="patient", now=T0).peer
    second = room.join(user_id="p", name="Pat", role="patient", now=T0)
    assert closes(second.outcome) == {first.peer_id: 4001}
    assert first.peer_id not in room.peers
    assert m.PeerLeft(peer_id=first.peer_id) in sent(second.outcome, doc.peer_id)


@pytest.mark.parametrize(("kind", "roles", "refused"), [
    ("televisit", ["clinician", "clinician"], "clinician"),
    ("televisit", ["patient"], "patient"),
    ("televisit", ["guest"], "guest"),
    ("teleassistance", ["clinician", "clinician"], "clinician"),
    ("teleconsult", ["clinician"] * 6, "clinician"),
    ("teleconsult", ["clinician"] * 5 + ["patient"], "guest"),
])
def test_participant_limits(kind: VisitKind, roles: list[str], refused: str) -> None:
    room = make_room(kind)
    for index, role in enumerate(roles):
        room.join(user_id=f"u{index}", name="x", role=role, now=T0)  # type: ignore[arg-type]
    with pytest.raises(RoomError) as full:
        room.join(user_id="late", name="x", role=refused, now=T0)  # type: ignore[arg-type]
    assert full.value.code == "room_full"


def test_televisit_holds_two_clinicians_a_patient_and_a_guest() -> None:
    room = make_room()
    for user, role in [("d1", "clinician"), ("d2", "clinician"), ("p", "patient"),
                       ("g", "guest")]:
        room.join(user_id=user, name=user, role=role, now=T0)  # type: ignore[arg-type]
    assert len(room.peers) == 4


def test_end_tells_and_closes_everyone_and_refuses_later_joins() -> None:
    room = make_room()
    doc = room.join(user_id="d", name="Dr", role="clinician", now=T0).peer
    pat = room.join(user_id="p", name="Pat", role="patient", now=T0).peer
    with pytest.raises(RoomError):
        room.end(pat.peer_id)
    out = room.end(doc.peer_id)
    assert sent(out, doc.peer_id) == [m.Ended()] == sent(out, pat.peer_id)
    assert set(closes(out)) == {doc.peer_id, pat.peer_id}
    assert out.phase == "completed" and room.empty
    with pytest.raises(RoomError) as refused:
        room.join(user_id="d", name="Dr", role="clinician", now=T0)
    assert refused.value.code == "visit_ended"


def test_teleconsult_in_progress_with_two_clinicians() -> None:
    room = make_room("teleconsult")
    room.join(user_id="a", name="A", role="clinician", now=T0)
    assert room.join(user_id="b", name="B", role="clinician", now=T0).outcome.phase == (
        "in_progress")
