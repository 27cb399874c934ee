"""The ingest's context cache: a batch's devices, patients and plans in two queries; the
assignment histories cached, but never past a reassignment the device row shows."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import event

from telemed import keys
from telemed.domain.assignments import History
from telemed.services.context import ContextCache, load_device, load_patient_context
from tests.conftest import World
from tests.integration.monitoring import add_device, add_plan


async def test_prefetch_loads_a_batch_in_two_queries(client: TestClient[Any, Any],
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
            assert len(statements) == 2  # devices; patients with their plans
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


async def _a_device_and_two_patients(world: World) -> tuple[Any, Any, str, dict[str, str]]:
    """Two patients of one doctor, a device of the first, the doctor's API headers."""
    doctor = await world.user("doctor")
    first = await world.patient(team=[doctor["id"]])
    second = await world.patient(team=[doctor["id"]])
    device = await add_device(world.app, first.id)
    return first, second, device, await world.token(doctor["username"])


async def test_a_cached_history_serves_until_the_device_row_names_another_patient(
        client: TestClient[Any, Any], world: World) -> None:
    app = client.app
    first, second, device, headers = await _a_device_and_two_patients(world)
    cache = ContextCache()
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    async def lookup() -> str | None:
        async with app[keys.SESSIONS]() as session:
            statements.clear()
            await cache.refresh_devices(session, [device])
            histories = await cache.histories_of(session, [device])
        return histories[device].current

    engine = app[keys.ENGINE].sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert await lookup() == first.id
        assert len(statements) == 2  # the device row, its history
        assert await lookup() == first.id
        assert len(statements) == 1  # the device row only: the history was cached
        # moved by the API; this cache hears no event (another process, a late bus)
        resp = await client.patch(f"/api/v1/devices/{device}",
                                  json={"patient_id": second.id}, headers=headers)
        assert resp.status == 200, await resp.text()
        assert await lookup() == second.id
        assert len(statements) == 2  # the row named another patient: history read again
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def test_a_device_moved_away_and_back_unheard_still_files_by_the_new_history(
        client: TestClient[Any, Any], world: World) -> None:
    """A → B → A between two batches, with no event: the device row names A again, but the
    newest interval is new, so the history is read again and the B interval decides."""
    app = client.app
    first, second, device, headers = await _a_device_and_two_patients(world)
    cache = ContextCache()

    async def history() -> History:
        async with app[keys.SESSIONS]() as session:
            await cache.refresh_devices(session, [device])
            return (await cache.histories_of(session, [device]))[device]

    before = await history()
    for patient in (second, first):
        resp = await client.patch(f"/api/v1/devices/{device}",
                                  json={"patient_id": patient.id}, headers=headers)
        assert resp.status == 200, await resp.text()
    after = await history()
    assert after.current == first.id
    assert len(after.assignments) == len(before.assignments) + 2
    while_moved = after.assignments[-2]
    assert while_moved.patient_id == second.id
    assert after.patient_at(while_moved.start) == second.id
