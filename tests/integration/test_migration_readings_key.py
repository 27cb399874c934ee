"""Migration 0028 (the readings' unique key led by the time) on SQLite and PostgreSQL, with
readings stored before it: every reading is kept, the key still refuses a second copy of a
reading, the models match the schema, and the downgrade restores the device-first order."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tests.helpers import migrations as m

READING = ("INSERT INTO observations (patient_id, device_id, metric, value, unit, time, "
           "received_at, late) VALUES ('p1', 'd1', :metric, :value, '%', :at, :at, false)")


async def _old_rows(conn: AsyncConnection) -> None:
    """A patient, a device and three readings, as the 0027 schema wrote them."""
    await m.old_patient(conn)
    await conn.execute(text(
        "INSERT INTO devices (id, serial, kind, patient_id, status, secret_hash, created_at) "
        "VALUES ('d1', 'd1', 'multi', 'p1', 'offline', '', :t)"), {"t": m.T0})
    for minute, metric in ((0, "spo2"), (0, "heart_rate"), (1, "spo2")):
        await conn.execute(text(READING), {"metric": metric, "value": 90.0 + minute,
                                           "at": m.T0 + timedelta(minutes=minute)})


def _key(conn: Connection) -> list[str]:
    (found,) = [c for c in inspect(conn).get_unique_constraints("observations")
                if c["name"] == "uq_observation_reading"]
    return list(found["column_names"])


async def _refuses_a_copy(engine: AsyncEngine) -> None:
    """The same device, metric and time again: refused by the key, whatever its order."""
    async with engine.connect() as conn:
        try:
            await conn.execute(text(READING), {"metric": "spo2", "value": 99.0, "at": m.T0})
        except IntegrityError:
            await conn.rollback()
        else:
            raise AssertionError("a second copy of a reading was stored")
        assert (await conn.execute(text(
            "SELECT count(*) FROM observations"))).scalar_one() == 3


async def test_0028(database_url: str) -> None:
    url = database_url
    async with m.upgraded_over(url, _old_rows, before="0027") as engine:
        async with engine.connect() as conn:
            kept = (await conn.execute(text(
                "SELECT metric, value FROM observations ORDER BY time, metric"))).all()
            assert [tuple(row) for row in kept] == [
                ("heart_rate", 90.0), ("spo2", 90.0), ("spo2", 91.0)]
            assert await conn.run_sync(_key) == ["time", "device_id", "metric"]
            assert "ix_observations_patient_metric_time_value" in await conn.run_sync(
                m.indexes, "observations")
            assert await conn.run_sync(m.schema_differences) == []  # models == migrations
        await _refuses_a_copy(engine)
        await m.downgrade(url, "0027")
        async with engine.connect() as conn:
            assert await conn.run_sync(_key) == ["device_id", "metric", "time"]
        await _refuses_a_copy(engine)
        await m.upgrade(url)
