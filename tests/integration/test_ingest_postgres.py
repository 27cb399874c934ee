"""The ingest pipeline and alert lifecycle on PostgreSQL (ON CONFLICT, alert sequence)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.ingest.envelope import Envelope
from telemed.ingest.store import MAX_DEFERRALS, BatchResult, store_batch
from telemed.services.context import ContextCache
from tests.conftest import World
from tests.helpers.waiting import stream_subscribed
from tests.helpers.ward import Ward
from tests.integration.monitoring import alerts_of, now_s, observations
from tests.integration.sse import next_event

pytestmark = pytest.mark.postgres


@pytest.fixture
def app(postgres_app: web.Application) -> web.Application:
    return postgres_app


@pytest.fixture
async def ward(world: World) -> Ward:
    return await Ward(world).build()


async def test_readings_are_idempotent_and_alerts_flow(client: TestClient[Any, Any],
                                                       ward: Ward) -> None:
    t = now_s()
    body = (("heart_rate", 70, "/min", t - 60), ("spo2", 0.97, "/", t - 60))
    assert (await ward.send(*body))["accepted"] == 2
    assert await ward.send(*body) == {"accepted": 0, "duplicates": 2, "rejected": []}
    stored = await observations(ward.world.app, ward.patient.id)
    assert sorted((o.metric, o.value) for o in stored) == [("heart_rate", 70), ("spo2", 97)]

    stream = await client.get("/api/v1/alerts/stream", headers=await ward.headers(ward.doctor))
    await stream_subscribed(client, 1)
    await ward.send(("heart_rate", 140, "/min", t - 30))
    await ward.send(("spo2", 89, "%", t))
    first, second = await next_event(stream), await next_event(stream)
    assert int(first.id or 0) < int(second.id or 0)
    [hr, spo2] = await alerts_of(ward.world.app, ward.patient.id)
    resp = await client.post(f"/api/v1/alerts/{hr.id}/resolve", json={"note": "ok"},
                             headers=await ward.headers(ward.nurse))
    assert resp.status == 200
    resolved = await next_event(stream)
    assert resolved.data["status"] == "resolved" and int(resolved.id or 0) > int(second.id or 0)
    stream.close()
    assert spo2.severity == "critical"


async def test_rule_state_upsert_and_trend(client: TestClient[Any, Any], ward: Ward) -> None:
    from tests.integration.monitoring import add_plan

    await add_plan(ward.world.app, ward.patient.id, ward.doctor["id"], {
        "monitoring": [{"metric": "body_weight", "schedule": {"times": ["08:00"]}}],
        "trends": [{"metric": "body_weight", "delta": 2, "window_hours": 72}]})
    t = now_s()
    await ward.send(("body_weight", 80, "kg", t - 3600 * 40))
    await ward.send(("body_weight", 81, "kg", t - 3600 * 20))
    await ward.send(("body_weight", 82.5, "kg", t))
    [alert] = await alerts_of(ward.world.app, ward.patient.id)
    assert alert.kind == "trend"


def _envelope(device_id: str, *records: tuple[str, float, str, float]) -> Envelope:
    from datetime import UTC, datetime

    from telemed.domain.senml import decode_pack
    from tests.integration.monitoring import pack

    payload = pack(*records)
    received = datetime.now(UTC)
    return Envelope("readings", device_id, payload, received, lambda outcome: None,
                    decode_pack(payload, received))


async def test_two_workers_on_one_patient_take_turns(client: TestClient[Any, Any],
                                                     ward: Ward) -> None:
    """Consecutive readings handled by two workers at once still count as consecutive.

    Worker one stores the first out-of-band reading (confirm count 1 of 2) and has not
    committed. Worker two, with the second reading from the patient's other oximeter, leaves
    it for a later batch while the patient is busy; once it has waited too often it waits for
    the lock instead. Either way it then sees the first reading's rule state and opens the
    alert. Without the lock each would count 1 and no alert would open.
    """
    from tests.integration.monitoring import add_device, add_plan

    app = ward.world.app
    await add_plan(app, ward.patient.id, ward.doctor["id"], {"monitoring": [{
        "metric": "spo2", "schedule": {"continuous": True}, "confirm_count": 2,
        "bands": {"critical_low": 90, "warning_low": 94}}]})
    t = now_s()
    first = _envelope(ward.device, ("spo2", 89, "%", t - 20))
    other_device = await add_device(app, ward.patient.id)
    second = _envelope(other_device, ("spo2", 88, "%", t - 10))
    sessions = app[keys.SESSIONS]

    async def other_worker() -> BatchResult:
        async with sessions() as session:
            result = await store_batch(session, ContextCache(), [second])
            await session.commit()
            return result

    async with sessions() as session:
        one = await store_batch(session, ContextCache(), [first])
        assert one.changes == [] and len(one.stored) == 1
        deferred = await other_worker()  # the patient is busy: left for later, not waited on
        assert deferred.deferred == [second] and deferred.stored == []
        assert second.deferrals == 1
        second.deferrals = MAX_DEFERRALS  # deferred too often: now it waits
        two = asyncio.create_task(other_worker())
        await asyncio.sleep(0.5)
        assert not two.done()  # waiting for the patient's lock
        await session.commit()
    result = await asyncio.wait_for(two, 10)
    assert result.deferred == [] and len(result.stored) == 1
    assert [(c.change, c.alert["severity"]) for c in result.changes] == [("opened", "critical")]
    [alert] = await alerts_of(app, ward.patient.id)
    assert alert.metric == "spo2" and alert.status == "open"
