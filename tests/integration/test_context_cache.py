"""The ingest's context cache: a batch's devices, patients and plans in three queries."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import event

from telemed import keys
from telemed.services.context import ContextCache, load_device, load_patient_context
from tests.conftest import World
from tests.integration.monitoring import add_device, add_plan


async def test_prefetch_loads_a_batch_in_three_queries(client: TestClient[Any, Any],
                                                       world: World) -> None:
    app = client.app
    doctor = await world.user("doctor")
    planned = await world.patient(team=[doctor["id"]])
    plain = await world.patient(team=[doctor["id"]])
    plan = await add_plan(app, planned.id, doctor["id"], {"monitoring": [
        {"metric": "spo2", "schedule": {"continuous": True}}]})
    devices = [await add_device(app, planned.id), await add_device(app, plain.id),
               await add_device(app, None)]
    cache = ContextCache()
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = app[keys.ENGINE].sync_engine
    async with app[keys.SESSIONS]() as session:
        event.listen(engine, "before_cursor_execute", count)
        try:
            await cache.prefetch(session, [*devices, "no-such-device", devices[0]])
            assert len(statements) == 3
            statements.clear()
            await cache.prefetch(session, devices)  # all cached now
            infos = [await cache.device(session, device_id) for device_id in devices]
            assert await cache.device(session, "no-such-device") is None
            cached = await cache.patient(session, planned.id)
            other = await cache.patient(session, plain.id)
            assert statements == []  # every lookup was a hit
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert infos == [await load_device(session, d) for d in devices]
        assert infos[2] is not None and infos[2].patient_id is None
        fresh = await load_patient_context(session, planned.id)
        assert cached is not None and fresh is not None
        assert cached.plan_version == fresh.plan_version == plan.version
        assert cached.content == fresh.content
        assert other is not None and other.plan is None
