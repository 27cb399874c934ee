"""GET /api/v1/alerts/stream: live alert changes for the caller's patients, resumable."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import World
from tests.helpers.waiting import stream_subscribed
from tests.helpers.ward import Ward
from tests.integration.monitoring import alerts_of, now_s
from tests.integration.sse import next_event

STREAM = "/api/v1/alerts/stream"


@pytest.fixture
async def ward(world: World) -> Ward:
    return await Ward(world).build()


async def test_out_of_band_reading_arrives_on_the_stream(client: TestClient[Any, Any],
                                                         ward: Ward) -> None:
    resp = await client.get(STREAM, headers=await ward.headers(ward.doctor))
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    await stream_subscribed(client, 1)
    await ward.send(("spo2", 89, "%", now_s()))
    event = await next_event(resp)
    assert event.event == "alert"
    assert event.data["kind"] == "threshold" and event.data["severity"] == "critical"
    assert event.data["patient"]["id"] == ward.patient.id
    assert event.data["change"] == "opened" and event.data["notify"] is True
    assert event.id is not None and int(event.id) == event.data["seq"]
    # the detail as text (English, UTC) and as data, for clients that say it their way
    assert event.data["detail"].startswith("Oxygen saturation 89 % (critical low) at ")
    assert event.data["detail_code"] == "threshold"
    assert event.data["detail_args"]["zone"] == "critical_low"
    assert event.data["detail_args"]["value"] == 89 and event.data["detail_args"]["unit"] == "%"
    resp.close()


async def test_other_teams_alerts_never_reach_the_stream(client: TestClient[Any, Any],
                                                         ward: Ward) -> None:
    resp = await client.get(STREAM, headers=await ward.headers(ward.stranger))
    await stream_subscribed(client, 1)
    await ward.send(("spo2", 89, "%", now_s()))
    with pytest.raises(TimeoutError):
        await next_event(resp, seconds=0.5)
    resp.close()


async def test_resume_with_last_event_id_replays_missed_changes(
        client: TestClient[Any, Any], ward: Ward) -> None:
    t = now_s()
    await ward.send(("heart_rate", 140, "/min", t - 60))
    first = await client.get(STREAM, headers=await ward.headers(ward.doctor))
    opened = await next_event(first)  # the current alert comes first
    assert opened.data["change"] == "replay" and opened.data["status"] == "open"
    assert opened.data["detail_code"] == "threshold"
    assert opened.data["detail_args"]["metric"] == "heart_rate"
    first.close()
    [alert] = await alerts_of(ward.world.app, ward.patient.id)
    await client.post(f"/api/v1/alerts/{alert.id}/ack", json={},
                      headers=await ward.headers(ward.nurse))
    await ward.send(("spo2", 89, "%", t))  # a second alert while disconnected
    headers = {**await ward.headers(ward.doctor), "Last-Event-ID": str(opened.id)}
    again = await client.get(STREAM, headers=headers)
    missed = [await next_event(again), await next_event(again)]
    assert [(e.data["metric"], e.data["status"]) for e in missed] == [
        ("heart_rate", "acknowledged"), ("spo2", "open")]
    assert int(missed[0].id or 0) < int(missed[1].id or 0)
    await stream_subscribed(client, 1)
    await client.post(f"/api/v1/alerts/{alert.id}/resolve", json={"note": "done"},
                      headers=await ward.headers(ward.nurse))
    live = await next_event(again)
    assert live.data["status"] == "resolved" and live.data["change"] == "resolved"
    again.close()


@pytest.mark.parametrize(("who", "expected"), [("admin", 403), (None, 401)])
async def test_stream_refuses(client: TestClient[Any, Any], ward: Ward, who: str | None,
                              expected: int) -> None:
    headers = await ward.headers(getattr(ward, who)) if who else {}
    resp = await client.get(STREAM, headers=headers)
    assert resp.status == expected


async def test_bad_last_event_id_is_400(client: TestClient[Any, Any], ward: Ward) -> None:
    headers = {**await ward.headers(ward.doctor), "Last-Event-ID": "abc"}
    assert (await client.get(STREAM, headers=headers)).status == 400


async def test_shutdown_closes_open_streams(client: TestClient[Any, Any], ward: Ward) -> None:
    resp = await client.get(STREAM, headers=await ward.headers(ward.doctor))
    await stream_subscribed(client, 1)
    await client.app.shutdown()
    assert await asyncio.wait_for(resp.content.read(), 5) == b""
