"""Signalling messages: every message survives dump → parse; bad frames are refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemed.domain.text import forbidden_character
from telemed.signalling import messages as m

ids = st.text(alphabet="abcdefghijkLMNOP0123456789-_", min_size=1, max_size=m.MAX_ID)
texts = st.text(min_size=1, max_size=200).filter(lambda s: s.strip() != "")
names = st.text(max_size=40)
json_scalars = st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.text(max_size=30) | \
    st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
signal_data = st.dictionaries(st.sampled_from(["sdp", "candidate", "x"]), json_values,
                              min_size=1, max_size=3)
precalls = st.builds(m.Precall, verdict=st.sampled_from(m.VERDICTS),
                     rtt_ms=st.none() | st.floats(0, 60_000), audio=st.booleans(),
                     video=st.booleans())
peers = st.builds(m.PeerInfo, peer_id=ids, role=st.sampled_from(m.VISIT_ROLES), name=names,
                  polite=st.none() | st.booleans())
ice = st.builds(m.IceServer,
                urls=st.lists(st.sampled_from(["stun:a.example:3478", "turn:b.example:3478",
                                               "turns:c.example:5349?transport=tcp"]),
                              min_size=1, max_size=3).map(tuple),
                username=st.none() | st.text(max_size=40),
                credential=st.none() | st.text(max_size=40))
seqs = st.integers(1, 10**9)
# what people may type in a chat (telemed.domain.text): no control or bidi characters
chat_texts = texts.filter(lambda s: forbidden_character(s, multiline=True) is None)

client_messages = st.one_of(
    st.builds(m.Join, resume_token=st.none() | texts, last_seq=st.none() | st.integers(0, 10**6),
              precall=st.none() | precalls),
    st.builds(m.Signal, to=ids, data=signal_data),
    st.builds(m.Chat, text=chat_texts),
    st.builds(m.Admit, peer_id=ids),
    st.builds(m.Deny, peer_id=ids),
    st.just(m.Leave()), st.just(m.End()), st.just(m.Ping()),
)
server_messages = st.one_of(
    st.builds(m.Welcome, peer_id=ids, resume_token=texts, role=st.sampled_from(m.VISIT_ROLES),
              state=st.sampled_from(["waiting", "admitted"]),
              participants=st.lists(peers, max_size=5).map(tuple),
              ice_servers=st.lists(ice, max_size=3).map(tuple), resumed=st.booleans(),
              last_seq=st.integers(0, 10**6)),
    st.builds(m.Knock, peer=peers, precall=st.none() | precalls),
    st.builds(m.Admitted, participants=st.lists(peers, max_size=5).map(tuple)),
    st.just(m.Denied()), st.just(m.Ended()), st.just(m.Pong()),
    st.builds(m.PeerJoined, peer=peers, polite=st.booleans()),
    st.builds(m.PeerLeft, peer_id=ids),
    st.builds(m.SignalFrom, from_=ids, data=signal_data),
    st.builds(m.ChatFrom, from_=ids, text=texts, ts=st.just("2026-11-22T10:00:00.000+00:00"),
              seq=seqs, name=names),
    st.builds(m.Error, code=st.sampled_from(["bad_json", "room_full"]), message=texts),
)


@given(client_messages)
def test_client_messages_round_trip(message: m.ClientMessage) -> None:
    assert m.parse_client(m.dump(message)) == message


@given(server_messages)
def test_server_messages_round_trip(message: m.ServerMessage) -> None:
    frame = m.dump(message)
    assert m.parse_server(frame) == message
    assert json.loads(frame)["type"] == message.TYPE


@given(signal_data)
def test_signal_data_is_relayed_verbatim(data: dict[str, Any]) -> None:
    relayed = m.parse_server(m.dump(m.SignalFrom(from_="a", data=data)))
    assert isinstance(relayed, m.SignalFrom)
    assert json.dumps(relayed.data, sort_keys=True) == json.dumps(data, sort_keys=True)


def test_wire_names() -> None:
    frame = json.loads(m.dump(m.ChatFrom(from_="p1", text="hi", ts="t", seq=3)))
    assert frame == {"type": "chat", "from": "p1", "text": "hi", "ts": "t", "seq": 3, "name": ""}
    assert json.loads(m.dump(m.PeerJoined(peer=m.PeerInfo("p", "patient", "N"), polite=True))) == {
        "type": "peer-joined", "peer": {"peer_id": "p", "role": "patient", "name": "N"},
        "polite": True}


@pytest.mark.parametrize(("frame", "code"), [
    ("{", "bad_json"),
    ("[]", "bad_message"),
    ('"join"', "bad_message"),
    ('{"type": "dance"}', "unknown_type"),
    ('{"no": "type"}', "unknown_type"),
    ('{"type": "signal", "to": "p"}', "bad_message"),
    ('{"type": "signal", "to": "p", "data": "sdp"}', "bad_message"),
    ('{"type": "signal", "to": "p", "data": {}}', "bad_message"),
    ('{"type": "signal", "to": "", "data": {"sdp": 1}}', "bad_message"),
    ('{"type": "signal", "to": "p", "data": {"sdp": 1}, "from": "x"}', "bad_message"),
    ('{"type": "chat", "text": "   "}', "bad_message"),
    ('{"type": "chat", "text": 5}', "bad_message"),
    ('{"type": "chat", "text": "' + "x" * (m.MAX_CHAT + 1) + '"}', "bad_message"),
    ('{"type": "chat", "text": "nul \\u0000"}', "invalid_text"),
    ('{"type": "chat", "text": "bidi \\u202e txt.exe"}', "invalid_text"),
    ('{"type": "chat", "text": "esc \\u001b[2J"}', "invalid_text"),
    ('{"type": "chat", "text": "lone \\ud800"}', "bad_json"),
    ('{"type": "chat", "text": "a", "text": "b"}', "bad_json"),
    ('{"type": "signal", "to": "p", "data": {"sdp": ' + "[" * 40 + "]" * 40 + '}}', "bad_json"),
    ('{"type": "signal", "to": "p", "data": {"sdp": ' + "[" * 5000 + "]" * 5000 + '}}',
     "bad_json"),
    ('{"type": "admit", "peer_id": 7}', "bad_message"),
    ('{"type": "join", "last_seq": -1}', "bad_message"),
    ('{"type": "join", "last_seq": true}', "bad_message"),
    ('{"type": "join", "precall": {"verdict": "great"}}', "bad_message"),
    ('{"type": "join", "precall": {"verdict": "good", "rtt_ms": "fast"}}', "bad_message"),
    ('{"type": "join", "precall": {"verdict": "good", "extra": 1}}', "bad_message"),
    ('{"type": "welcome", "peer_id": "p"}', "unknown_type"),  # server-only type
])
def test_bad_client_frames(frame: str, code: str) -> None:
    with pytest.raises(m.MessageError) as refused:
        m.parse_client(frame)
    assert refused.value.code == code


def test_construction_validates() -> None:
    with pytest.raises(m.MessageError):
        m.ChatFrom(from_="p", text="hi", ts="t", seq=0)
    with pytest.raises(m.MessageError):
        m.IceServer(urls=("http://not-ice",))
    with pytest.raises(m.MessageError):
        m.PeerInfo(peer_id="p", role="admin", name="x")  # type: ignore[arg-type]
