"""Helpers for tests with many readings: per-minute series stored in bulk, statement counts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import event, insert

from telemed import keys
from telemed.db.models import Observation
from telemed.domain.downsample import downsample
from telemed.services.observations import bucketed
from tests.conftest import World
from tests.integration.monitoring import add_device, add_plan

DIP, SPIKE = 83.0, 164.0
PLAN = {"monitoring": [
    {"metric": "spo2", "schedule": {"continuous": True},
     "bands": {"critical_low": 88, "warning_low": 92}},
    {"metric": "heart_rate", "schedule": {"continuous": True}},
]}


def per_minute(patient_id: str, device_id: str, until: datetime, days: int
               ) -> list[dict[str, Any]]:
    """``days`` of SpO2 and heart rate, one a minute up to ``until``, with one dip and one
    spike of a single minute each."""
    start = until - timedelta(days=days) + timedelta(minutes=1)
    rows = []
    minutes = days * 1440
    for i in range(minutes):
        at = start + timedelta(minutes=i)
        spo2 = DIP if i == minutes // 3 else 95.0 + i % 4
        heart = SPIKE if i == 2 * minutes // 3 else 70.0 + i % 9
        for metric, value, unit in (("spo2", spo2, "%"), ("heart_rate", heart, "/min")):
            rows.append({"patient_id": patient_id, "device_id": device_id, "metric": metric,
                         "value": value, "unit": unit, "time": at, "received_at": at,
                         "late": False})
    return rows


async def store(app: web.Application, rows: list[dict[str, Any]]) -> None:
    engine = app[keys.ENGINE]
    for start in range(0, len(rows), 5000):
        async with engine.begin() as conn:
            await conn.execute(insert(Observation.__table__), rows[start:start + 5000])  # type: ignore[attr-defined]


@contextmanager
def statements(app: web.Application) -> Iterator[list[str]]:
    """The SQL statements the app's engine sends inside the block."""
    seen: list[str] = []

    def count(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        seen.append(sql)

    engine = app[keys.ENGINE].sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


class Wearer:
    """A patient with a wearable and 30 days of per-minute readings, their team, strangers."""

    async def build(self, world: World, days: int = 30) -> Wearer:
        self.world = world
        self.doctor = await world.user("doctor")
        self.stranger = await world.user("doctor")
        self.admin = await world.user("admin")
        self.patient = await world.patient(team=[self.doctor["id"]])
        self.other = await world.patient(team=[self.stranger["id"]])
        self.patient_user = await world.user("patient", patient_id=self.patient.id)
        await add_plan(world.app, self.patient.id, self.doctor["id"], PLAN)
        self.device = await add_device(world.app, self.patient.id)
        self.until = datetime.now(UTC).replace(microsecond=0)
        self.rows = per_minute(self.patient.id, self.device, self.until, days)
        await store(world.app, self.rows)
        return self

    def url(self, patient_id: str | None = None) -> str:
        return f"/api/v1/patients/{patient_id or self.patient.id}/observations/series"


async def check_bucket_edges(world: World) -> None:
    """Readings a microsecond before, at and after a bucket edge fall where the rule says."""
    doctor = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    device = await add_device(world.app, patient.id)
    edge = datetime(2026, 3, 1, 6, tzinfo=UTC)  # a multiple of 3 h since the epoch
    times = [edge - timedelta(microseconds=1), edge, edge + timedelta(milliseconds=500),
             edge + timedelta(hours=3) - timedelta(milliseconds=1), edge + timedelta(hours=3)]
    await store(world.app, [{"patient_id": patient.id, "device_id": device, "metric": "spo2",
                             "value": 90.0 + i, "unit": "%", "time": at, "received_at": at,
                             "late": False} for i, at in enumerate(times)])
    async with world.app[keys.SESSIONS]() as session:
        found = await bucketed(session, patient.id, ["spo2"], edge - timedelta(hours=6),
                               edge + timedelta(hours=6), 3 * 3600)
    assert [(b.start, b.count, b.min, b.max) for b in found["spo2"]] == [
        (edge - timedelta(hours=3), 1, 90.0, 90.0), (edge, 3, 91.0, 93.0),
        (edge + timedelta(hours=3), 1, 94.0, 94.0)]
    assert found["spo2"] == downsample([(at, 90.0 + i) for i, at in enumerate(times)], 3 * 3600)
