"""Stored readings: idempotent bulk insert, device health, queries for people.

Writes are Core statements (no ORM object per reading) so a batch of hundreds of readings is
one ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` on SQLite and PostgreSQL alike; the rows
returned are the readings stored now, so a redelivered reading is neither stored nor evaluated
twice. On PostgreSQL the rows travel as one array per column (``SELECT * FROM unnest(...)``):
one small prepared statement instead of a VALUES list of thousands of parameters.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Float, String, Table, and_, bindparam, func, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import Observation
from telemed.db.types import UTCDateTime
from telemed.domain.units import CLINICAL_METRICS, METRICS
from telemed.principal import Principal
from telemed.services.access import authorize_patient
from telemed.services.pagination import Page

OBSERVATIONS: Table = Observation.__table__  # type: ignore[attr-defined]

ReadingKey = tuple[str, str, datetime]


@dataclass(frozen=True, slots=True)
class NewReading:
    """A validated reading in its canonical unit, ready to store."""

    patient_id: str
    device_id: str
    metric: str
    value: float
    unit: str
    time: datetime
    received_at: datetime
    late: bool

    @property
    def key(self) -> ReadingKey:
        return (self.device_id, self.metric, self.time)

    def row(self) -> dict[str, Any]:
        return {
            "patient_id": self.patient_id,
            "device_id": self.device_id,
            "metric": self.metric,
            "value": self.value,
            "unit": self.unit,
            "time": self.time,
            "received_at": self.received_at,
            "late": self.late,
        }


_INSERTS: dict[str, Insert] = {}


def _insert_statement(dialect: str) -> Insert:
    """INSERT ... ON CONFLICT (device_id, metric, time) DO NOTHING RETURNING the key."""
    stmt = _INSERTS.get(dialect)
    if stmt is None:
        keys = ["device_id", "metric", "time"]
        c = OBSERVATIONS.c
        if dialect == "postgresql":
            base: Any = postgresql.insert(OBSERVATIONS).on_conflict_do_nothing(index_elements=keys)
        elif dialect == "sqlite":
            base = sqlite.insert(OBSERVATIONS).on_conflict_do_nothing(index_elements=keys)
        else:
            raise RuntimeError(f"unsupported database dialect {dialect}")
        stmt = base.returning(c.device_id, c.metric, c.time)
        _INSERTS[dialect] = stmt
    return stmt


_PG_COLUMNS = ("patient_id", "device_id", "metric", "value", "unit", "time", "received_at",
               "late")
_PG_TYPES: dict[str, Any] = {"value": Float(), "time": DateTime(timezone=True),
                             "received_at": DateTime(timezone=True), "late": Boolean()}
_PG_INSERT = text(
    f"INSERT INTO observations ({', '.join(_PG_COLUMNS)}) "
    f"SELECT * FROM unnest({', '.join(':' + c for c in _PG_COLUMNS)}) "
    "ON CONFLICT (device_id, metric, time) DO NOTHING RETURNING device_id, metric, time"
).bindparams(*(bindparam(c, type_=postgresql.ARRAY(_PG_TYPES.get(c, String())))
               for c in _PG_COLUMNS))


async def insert_readings(session: AsyncSession, readings: Sequence[NewReading]) -> set[ReadingKey]:
    """Store readings not stored before; return the keys of those stored now."""
    if not readings:
        return set()
    unique: dict[ReadingKey, NewReading] = {}
    for reading in readings:
        unique.setdefault(reading.key, reading)
    conn = await session.connection()
    if conn.dialect.name == "postgresql":
        rows = [r.row() for r in unique.values()]
        columns = {c: [row[c] for row in rows] for c in _PG_COLUMNS}
        result = await conn.execute(_PG_INSERT, columns)
    else:
        result = await conn.execute(_insert_statement(conn.dialect.name),
                                    [r.row() for r in unique.values()])
    return {(row[0], row[1], row[2]) for row in result.all()}


@dataclass(frozen=True, slots=True)
class DeviceSeen:
    """What a batch learnt about a device: last message time, status, battery."""

    device_id: str
    last_seen: datetime
    status: str | None = None
    battery: float | None = None


_DEVICE_ACTIVITY = text(
    "UPDATE devices SET "
    "last_seen = CASE WHEN last_seen IS NULL OR last_seen < :seen THEN :seen "
    "ELSE last_seen END, "
    "status = CASE WHEN status = 'revoked' OR :status IS NULL THEN status "
    "ELSE :status END, "
    "battery = COALESCE(:battery, battery) "
    "WHERE id = :id"
).bindparams(bindparam("seen", type_=UTCDateTime()), bindparam("status", type_=String()),
             bindparam("battery", type_=Float()), bindparam("id", type_=String()))


async def record_device_activity(session: AsyncSession, seen: Iterable[DeviceSeen]) -> None:
    """Update last_seen (never backwards), status (unless revoked) and battery, in one go.

    Rows are updated in device-id order: two transactions touching the same devices then
    lock them in the same order and cannot deadlock.
    """
    rows = [{"id": item.device_id, "seen": item.last_seen, "status": item.status,
             "battery": item.battery} for item in sorted(seen, key=lambda s: s.device_id)]
    if rows:
        conn = await session.connection()
        await conn.execute(_DEVICE_ACTIVITY, rows)


# --- reads by people -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ObservationQuery:
    """Filters of a patient's observation list."""

    metric: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def observation_out(obs: Observation) -> dict[str, Any]:
    """The observation's public shape (docs/telemonitoring.md, "API")."""
    return {
        "metric": obs.metric,
        "value": obs.value,
        "unit": obs.unit,
        "time": obs.time.isoformat(),
        "device_id": obs.device_id,
        "late": obs.late,
        "received_at": obs.received_at.isoformat(),
    }


async def list_observations(
    session: AsyncSession,
    who: Principal,
    patient_id: str,
    query: ObservationQuery,
    page: Page,
    request_id: str | None = None,
) -> list[Observation]:
    """A page of a patient's readings, newest first (audited)."""
    await authorize_patient(session, who, patient_id, action="read", resource="observation",
                            request_id=request_id)
    stmt = select(Observation).where(Observation.patient_id == patient_id)
    if query.metric is not None:
        stmt = stmt.where(Observation.metric == query.metric)
    if query.since is not None:
        stmt = stmt.where(col(Observation.time) >= query.since)
    if query.until is not None:
        stmt = stmt.where(col(Observation.time) <= query.until)
    if page.after is not None:
        after_time = datetime.fromisoformat(str(page.after[0]))
        after_id = int(page.after[1])
        stmt = stmt.where(
            (col(Observation.time) < after_time)
            | ((col(Observation.time) == after_time) & (col(Observation.id) < after_id))
        )
    stmt = stmt.order_by(col(Observation.time).desc(), col(Observation.id).desc())
    rows = list((await session.exec(stmt.limit(page.limit))).all())
    await session.commit()
    return rows


async def latest_values(
    session: AsyncSession, patient_ids: Sequence[str], metrics: Sequence[str] = CLINICAL_METRICS
) -> dict[str, dict[str, Observation]]:
    """patient → metric → its most recent reading (no audit: callers audit)."""
    if not patient_ids:
        return {}
    newest = (
        select(
            Observation.patient_id,
            Observation.metric,
            func.max(Observation.time).label("time"),
        )
        .where(col(Observation.patient_id).in_(patient_ids))
        .where(col(Observation.metric).in_(metrics))
        .group_by(col(Observation.patient_id), col(Observation.metric))
        .subquery()
    )
    stmt = select(Observation).join(
        newest,
        and_(
            col(Observation.patient_id) == newest.c.patient_id,
            col(Observation.metric) == newest.c.metric,
            col(Observation.time) == newest.c.time,
        ),
    )
    out: dict[str, dict[str, Observation]] = {}
    for obs in (await session.exec(stmt)).all():
        out.setdefault(obs.patient_id, {})[obs.metric] = obs
    return out


async def latest_vitals(
    session: AsyncSession, who: Principal, patient_id: str, request_id: str | None = None
) -> dict[str, Any]:
    """The compact latest-vitals view of one patient (audited)."""
    await authorize_patient(session, who, patient_id, action="read", resource="observation",
                            reason="latest vitals", request_id=request_id)
    latest = (await latest_values(session, [patient_id])).get(patient_id, {})
    await session.commit()
    return {
        "patient_id": patient_id,
        "vitals": {
            metric: {
                "value": obs.value,
                "unit": obs.unit,
                "time": obs.time.isoformat(),
                "device_id": obs.device_id,
                "late": obs.late,
            }
            for metric, obs in sorted(latest.items())
        },
    }


def is_known_metric(metric: str) -> bool:
    return metric in METRICS
