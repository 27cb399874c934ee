"""Looking together: the `view` message, the lead and its relay (pure room state)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from telemed.signalling import messages as m
from telemed.signalling.rooms import Outcome, Room, RoomError, Send

T0 = 1_700_000_000.0
STUDY, SERIES = "1.2.826.0.1.3680043.8.498.1", "1.2.826.0.1.3680043.8.498.2"


def _room() -> tuple[Room, str, str, str]:
    counter = itertools.count(1)
    room = Room("v1", "teleconsult", new_peer_id=lambda: f"p{next(counter)}")
    a = room.join(user_id="ua", name="A", role="clinician", now=T0).peer.peer_id
    b = room.join(user_id="ub", name="B", role="clinician", now=T0).peer.peer_id
    pat = room.join(user_id="up", name="P", role="patient", now=T0).peer.peer_id
    return room, a, b, pat


def _view(slice_: int = 3, **more: Any) -> m.View:
    return m.View(study_uid=STUDY, series_uid=SERIES, slice=slice_, **more)


def _got(out: Outcome, peer_id: str) -> list[m.ViewFrom]:
    return [e.message for e in out.effects if isinstance(e, Send) and e.peer_id == peer_id
            and isinstance(e.message, m.ViewFrom)]


def test_first_to_show_leads_and_others_follow() -> None:
    room, a, b, pat = _room()
    out = room.view(a, _view(7, zoom=2.0, center=-600, width=1500), now=T0)
    [relayed] = _got(out, b)
    assert (relayed.lead, relayed.slice, relayed.zoom, relayed.center) == (a, 7, 2.0, -600)
    assert _got(out, a) == [] and _got(out, pat) == []  # not the sender, not the waiting
    with pytest.raises(RoomError) as refused:
        room.view(b, _view(1), now=T0 + 1)
    assert refused.value.code == "not_leading"
    out = room.view(b, _view(1, take_lead=True), now=T0 + 1)
    assert room.lead == b and _got(out, a)[0].lead == b
    with pytest.raises(RoomError):
        room.view(a, _view(2), now=T0 + 2)


def test_views_faster_than_a_repaint_are_dropped_and_lead_ends_with_the_leader() -> None:
    room, a, b, _ = _room()
    room.view(a, _view(1), now=T0)
    assert _got(room.view(a, _view(2), now=T0 + 0.005), b) == []
    assert [v.slice for v in _got(room.view(a, _view(3), now=T0 + 0.05), b)] == [3]
    room.leave(a)
    assert room.lead is None
    assert _got(room.view(b, _view(4), now=T0 + 1), b) == []  # b leads now, nobody to tell
    assert room.lead == b


@pytest.mark.parametrize("bad", [
    {"study_uid": "1.2.x", "series_uid": SERIES, "slice": 1},
    {"study_uid": STUDY, "series_uid": SERIES, "slice": -1},
    {"study_uid": STUDY, "series_uid": SERIES, "slice": 10_001},
    {"study_uid": STUDY, "series_uid": SERIES, "slice": 1, "zoom": 0},
    {"study_uid": STUDY, "series_uid": SERIES, "slice": 1, "width": 0},
    {"study_uid": STUDY, "series_uid": SERIES, "slice": 1, "zoom": True},
    {"study_uid": STUDY, "series_uid": SERIES, "slice": 1, "take_lead": "yes"},
    {"study_uid": STUDY, "series_uid": SERIES, "slice": 1, "extra": 1},
    {"study_uid": STUDY, "slice": 1},
])
def test_bad_views_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(m.MessageError):
        m.parse_client(json.dumps({"type": "view", **bad}))


def test_view_round_trip() -> None:
    view = m.parse_client(json.dumps({"type": "view", "study_uid": STUDY, "series_uid": SERIES,
                                      "slice": 4, "center": 40, "width": 400.5}))
    assert isinstance(view, m.View) and view.slice == 4
    relayed = m.ViewFrom(from_="p1", lead="p1", study_uid=STUDY, series_uid=SERIES, slice=4)
    assert m.parse_server(m.dump(relayed)) == relayed
    assert json.loads(m.dump(relayed))["from"] == "p1"
