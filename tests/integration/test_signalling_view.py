"""Looking together over the real signalling socket: the `view` message relayed to the
other admitted peers, a follower's view refused, bad views refused (and counted as strikes)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient

from telemed.signalling import messages as m
from tests.conftest import World
from tests.integration.visit_helpers import connect, make_visit

STUDY, SERIES = "1.2.826.0.1.3680043.8.498.10", "1.2.826.0.1.3680043.8.498.11"


async def test_the_leaders_view_reaches_the_others_and_followers_cannot_steer(
        client: TestClient[Any, Any], world: World) -> None:
    setup = await make_visit(world, kind="teleconsult", clinicians=2)
    first = await connect(client, setup, setup.doctors[0])
    await first.send(m.Join())
    lead = await first.expect(m.Welcome)
    second = await connect(client, setup, setup.doctors[1])
    await second.send(m.Join())
    await second.expect(m.Welcome)
    await first.expect(m.PeerJoined)
    await first.send(m.View(study_uid=STUDY, series_uid=SERIES, slice=5, zoom=2.0,
                            center=-600, width=1500))
    seen = await second.expect(m.ViewFrom)
    assert (seen.lead, seen.from_, seen.slice, seen.zoom, seen.center, seen.width) == (
        lead.peer_id, lead.peer_id, 5, 2.0, -600, 1500)
    await second.send(m.View(study_uid=STUDY, series_uid=SERIES, slice=1))
    refused = await second.expect(m.Error)
    assert refused.code == "not_leading"
    await second.send(m.View(study_uid=STUDY, series_uid=SERIES, slice=1, take_lead=True))
    taken = await first.expect(m.ViewFrom)
    assert taken.lead != lead.peer_id and taken.slice == 1
    # Bad views: refused with an error, nothing relayed.
    for bad in ({"slice": -1}, {"series_uid": "1.2;drop"}, {"zoom": 1e9}, {"extra": 1}):
        await second.send_raw(json.dumps({"type": "view", "study_uid": STUDY,
                                          "series_uid": SERIES, "slice": 2, **bad}))
        assert (await second.expect(m.Error)).code == "bad_message"
    await second.send(m.Ping())
    await second.expect(m.Pong)
    await first.send(m.Ping())
    assert isinstance(await first.receive(), m.Pong)  # no stray view reached the leader-to-be
    await first.close()
    await second.close()
