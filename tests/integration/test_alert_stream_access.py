"""The alert stream follows access changes at once, not on its one-minute re-read."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.api import alert_stream
from telemed.bus import ACCESS, ALERTS
from tests.conftest import World
from tests.helpers.ward import Ward
from tests.integration.monitoring import now_s
from tests.integration.sse import SseEvent, next_event

STREAM = "/api/v1/alerts/stream"


@pytest.fixture
async def ward(world: World, monkeypatch: pytest.MonkeyPatch) -> Ward:
    monkeypatch.setattr(alert_stream, "REFRESH_VISIBLE", 3600.0)  # only events may refresh
    return await Ward(world).build()


async def _following(client: TestClient[Any, Any]) -> None:
    """Wait until a stream follows both alerts and access changes."""
    bus: Any = client.app[keys.BUS]
    deadline = time.monotonic() + 2
    while bus.subscriber_count(ALERTS) < 1 or bus.subscriber_count(ACCESS) < 1:
        assert time.monotonic() < deadline, "the stream did not subscribe"
        await asyncio.sleep(0.02)


async def _consent(client: TestClient[Any, Any], ward: Ward, granted: bool) -> None:
    resp = await client.post(f"/api/v1/patients/{ward.patient.id}/consents",
                             json={"granted": granted},
                             headers=await ward.headers(ward.patient_user))
    assert resp.status == 201, await resp.text()


async def _alert_event(resp: Any, seconds: float) -> SseEvent:
    event = await next_event(resp, seconds=seconds)
    assert event.event == "alert"
    return event


async def test_withdrawn_consent_stops_the_stream_at_once(client: TestClient[Any, Any],
                                                          ward: Ward) -> None:
    # The nurse: the team's doctor keeps receiving the alerts of telemonitoring (see
    # test_access_trust.py); everybody else on the team stops at once.
    resp = await client.get(STREAM, headers=await ward.headers(ward.nurse))
    await _following(client)
    await _consent(client, ward, granted=False)
    await asyncio.sleep(0.6)  # the stream re-reads who it may show (debounced 0.2 s)
    await ward.send(("spo2", 89, "%", now_s()))
    with pytest.raises(TimeoutError):
        await next_event(resp, seconds=0.8)

    await _consent(client, ward, granted=True)  # allowed again: the open alert comes back
    event = await _alert_event(resp, 3)
    assert event.data["patient"]["id"] == ward.patient.id
    assert event.data["change"] == "replay" and event.data["status"] == "open"
    await ward.send(("heart_rate", 150, "/min", now_s()))  # and live changes follow
    live = await _alert_event(resp, 3)
    assert live.data["metric"] == "heart_rate" and live.data["change"] == "opened"
    resp.close()


async def test_a_new_care_team_member_sees_open_alerts_at_once(client: TestClient[Any, Any],
                                                               ward: Ward) -> None:
    await ward.send(("spo2", 89, "%", now_s()))  # open before the stranger joins the team
    resp = await client.get(STREAM, headers=await ward.headers(ward.stranger))
    await _following(client)
    with pytest.raises(TimeoutError):
        await next_event(resp, seconds=0.3)
    plan = {"title": "Follow-up", "period_start": "2026-11-01",
            "care_team": [ward.doctor["id"], ward.stranger["id"]], "monitoring": []}
    created = await client.post(f"/api/v1/patients/{ward.patient.id}/careplans", json=plan,
                                headers=await ward.headers(ward.doctor))
    assert created.status == 201, await created.text()
    event = await _alert_event(resp, 3)
    assert event.data["patient"]["id"] == ward.patient.id
    assert event.data["metric"] == "spo2" and event.data["change"] == "replay"
    resp.close()
