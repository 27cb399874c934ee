"""The readings insert of the ingest hot path (SQLite: multi-row VALUES formatted by hand).

The rows must be exactly what the ORM stores (the same text for times, so the unique key
(device, metric, time) still catches a reading stored by either path), a redelivery stores
nothing, and a batch larger than one statement's rows is stored whole.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from aiohttp.test_utils import TestClient
from sqlmodel import col, select

from telemed import keys
from telemed.db.models import Observation
from telemed.ingest.writer import DEFAULT_MAX_READINGS
from telemed.services.observations import NewReading, insert_readings
from tests.conftest import World
from tests.helpers.statements import counting
from tests.integration.monitoring import add_device


def _reading(patient_id: str, device_id: str, metric: str, value: float,
             at: datetime, late: bool = False) -> NewReading:
    return NewReading(patient_id, device_id, metric, value, "%" if metric == "spo2" else "/min",
                      at, datetime.now(UTC), late)


async def test_stored_like_the_orm_and_exactly_once(client: TestClient[Any, Any],
                                                   world: World) -> None:
    patient = await world.patient()
    device = await add_device(world.app, patient.id)
    sessions = world.app[keys.SESSIONS]
    whole = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)  # no microseconds
    other_zone = (whole + timedelta(seconds=1, microseconds=250)).astimezone(
        timezone(timedelta(hours=2)))
    async with sessions() as session:  # one reading stored through the ORM first
        session.add(Observation(patient_id=patient.id, device_id=device, metric="spo2",
                                value=95.0, unit="%", time=whole, received_at=whole))
        await session.commit()

    batch = [
        _reading(patient.id, device, "spo2", 96, whole),  # the ORM's row: a duplicate
        _reading(patient.id, device, "spo2", 97, other_zone, late=True),
        _reading(patient.id, device, "heart_rate", 61, whole),
        _reading(patient.id, device, "heart_rate", 61, whole),  # twice in the batch
    ]
    async with sessions() as session:
        stored = await insert_readings(session, batch)
        await session.commit()
    assert stored == {(device, "spo2", other_zone), (device, "heart_rate", whole)}

    async with sessions() as session:
        again = await insert_readings(session, batch)  # a redelivery
        await session.commit()
        rows = (await session.exec(select(Observation).order_by(
            col(Observation.metric), col(Observation.time)))).all()
    assert again == set()
    assert [(o.metric, o.value, o.time, o.late) for o in rows] == [
        ("heart_rate", 61.0, whole, False),
        ("spo2", 95.0, whole, False),
        ("spo2", 97.0, other_zone.astimezone(UTC), True),
    ]
    assert all(o.time.tzinfo is not None for o in rows)


async def test_a_batch_longer_than_one_statement(client: TestClient[Any, Any],
                                                 world: World) -> None:
    patient = await world.patient()
    device = await add_device(world.app, patient.id)
    start = datetime.now(UTC) - timedelta(hours=1)
    batch = [_reading(patient.id, device, "heart_rate", 60 + n % 30,
                      start + timedelta(seconds=n, microseconds=n)) for n in range(2_013)]
    async with world.app[keys.SESSIONS]() as session:
        with counting(world.app) as statements:
            stored = await insert_readings(session, batch)
        await session.commit()
        count = len((await session.exec(select(Observation.id))).all())
    assert stored == {r.key for r in batch}
    assert count == 2_013
    assert 1 <= len(statements) <= 3  # 1,000 rows a statement on SQLite, one on PostgreSQL


async def test_a_workers_batch_is_one_statement(client: TestClient[Any, Any],
                                                world: World) -> None:
    """The worker's default batch (2,000 readings) costs one INSERT, one round trip to the
    driver's thread (it took five of 110 rows)."""
    patient = await world.patient()
    device = await add_device(world.app, patient.id)
    start = datetime.now(UTC) - timedelta(hours=2)
    batch = [_reading(patient.id, device, "spo2", 90 + n % 8, start + timedelta(seconds=n))
             for n in range(DEFAULT_MAX_READINGS)]
    async with world.app[keys.SESSIONS]() as session:
        with counting(world.app) as statements:
            stored = await insert_readings(session, batch)
        await session.commit()
    assert len(stored) == DEFAULT_MAX_READINGS
    assert [s.split()[0] for s in statements] == ["INSERT"]
