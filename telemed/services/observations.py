"""Stored readings: idempotent bulk insert, device health, queries for people.

Writes are Core statements (no ORM object per reading) so a batch of hundreds of readings is
``INSERT ... ON CONFLICT DO NOTHING RETURNING`` on SQLite and PostgreSQL alike; the rows
returned are the readings stored now, so a redelivered reading is neither stored nor evaluated
twice. On PostgreSQL the rows travel as one array per column (``SELECT * FROM unnest(...)``):
one small prepared statement instead of a VALUES list of thousands of parameters. On SQLite
a few multi-row VALUES statements carry parameters formatted as SQLAlchemy would bind them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    String,
    Table,
    and_,
    bindparam,
    func,
    literal,
    text,
    true,
    union_all,
)
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import Observation, Patient
from telemed.db.types import UTCDateTime
from telemed.domain.audit_reasons import because
from telemed.domain.downsample import Bucket, bucket_number, bucket_width, from_aggregates
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
    entered_by: str | None = None  # a person's manual reading (None: a device's)

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
            "entered_by": self.entered_by,
        }


_PG_COLUMNS = ("patient_id", "device_id", "metric", "value", "unit", "time", "received_at",
               "late", "entered_by")
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
    if conn.dialect.name == "sqlite":
        return await _insert_sqlite(conn, list(unique.values()))
    if conn.dialect.name != "postgresql":
        raise RuntimeError(f"unsupported database dialect {conn.dialect.name}")
    rows = [r.row() for r in unique.values()]
    columns = {c: [row[c] for row in rows] for c in _PG_COLUMNS}
    result = await conn.execute(_PG_INSERT, columns)
    return {(row[0], row[1], row[2]) for row in result.all()}


# SQLite 3.32 and later bind up to 32,766 parameters: a worker's batch (500 readings, 4,500
# parameters) goes in one statement, one round trip to the driver's thread instead of five.
# Older libraries allow 999 (110 readings).
_SQLITE_PARAMETERS = 32_766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999
# UPDATE ... FROM (one statement for many rows) came with SQLite 3.33.
SQLITE_UPDATE_FROM = sqlite3.sqlite_version_info >= (3, 33, 0)
_SQLITE_INSERT = (
    f"INSERT INTO observations ({', '.join(_PG_COLUMNS)}) VALUES {{values}} "
    "ON CONFLICT (device_id, metric, time) DO NOTHING RETURNING device_id, metric, time")


def sqlite_time(at: datetime) -> str:
    """A UTC time as `UTCDateTime` stores it on SQLite (naive, microseconds always)."""
    if at.tzinfo is UTC:  # decoded readings and receive times: drop "+00:00", no new object
        return at.isoformat(" ", "microseconds")[:26]
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


async def sqlite_rows(conn: AsyncConnection, template: str, rows: Sequence[tuple[Any, ...]]
                      ) -> list[Any]:
    """Run ``template`` (``{values}``: a multi-row ``VALUES`` list) over ``rows`` of formatted
    parameters, as few statements as SQLite's parameter limit allows; the rows returned."""
    if not rows:
        return []
    width = len(rows[0])
    row = "(" + ", ".join("?" * width) + ")"
    step = _SQLITE_PARAMETERS // width
    returned: list[Any] = []
    for first in range(0, len(rows), step):
        part = rows[first:first + step]
        sql = template.format(values=", ".join([row] * len(part)))
        result = await conn.exec_driver_sql(sql, tuple(chain.from_iterable(part)))
        if result.returns_rows:
            returned += result.all()
    return returned


async def _insert_sqlite(conn: AsyncConnection, readings: list[NewReading]) -> set[ReadingKey]:
    """The SQLite insert as multi-row VALUES statements with parameters formatted here.

    The rows SQLAlchemy would bind (the same text for times, 1/0 for `late`), without its
    per-value bind processing: the ingest hot path's largest cost after decoding. The times
    returned are the stored text, mapped back to the readings' keys."""
    keys: dict[tuple[str, str, str], ReadingKey] = {}
    received: dict[datetime, str] = {}  # a message's readings share their receive time
    rows: list[tuple[Any, ...]] = []
    for r in readings:
        at = sqlite_time(r.time)
        keys[(r.device_id, r.metric, at)] = r.key
        received_text = received.get(r.received_at)
        if received_text is None:
            received_text = received[r.received_at] = sqlite_time(r.received_at)
        rows.append((r.patient_id, r.device_id, r.metric, float(r.value), r.unit, at,
                     received_text, int(r.late), r.entered_by))
    returned = await sqlite_rows(conn, _SQLITE_INSERT, rows)
    return {keys[(row[0], row[1], row[2])] for row in returned}


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
    ordered = sorted(seen, key=lambda s: s.device_id)
    if not ordered:
        return
    conn = await session.connection()
    if conn.dialect.name == "sqlite" and SQLITE_UPDATE_FROM:
        # one statement, parameters formatted here: no executemany, no bind processing
        await sqlite_rows(conn, _SQLITE_DEVICE_ACTIVITY, [
            (item.device_id, sqlite_time(item.last_seen), item.status,
             None if item.battery is None else float(item.battery)) for item in ordered])
        return
    await conn.execute(_DEVICE_ACTIVITY, [
        {"id": item.device_id, "seen": item.last_seen, "status": item.status,
         "battery": item.battery} for item in ordered])


_SQLITE_DEVICE_ACTIVITY = (
    "UPDATE devices SET "
    "last_seen = CASE WHEN devices.last_seen IS NULL OR devices.last_seen < v.column2 "
    "THEN v.column2 ELSE devices.last_seen END, "
    "status = CASE WHEN devices.status = 'revoked' OR v.column3 IS NULL THEN devices.status "
    "ELSE v.column3 END, "
    "battery = COALESCE(v.column4, devices.battery) "
    "FROM (VALUES {values}) AS v WHERE devices.id = v.column1")


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
        "source": "device" if obs.entered_by is None else "manual",
        "entered_by": obs.entered_by,
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
    """patient → metric → its most recent reading (no audit: callers audit).

    One statement whatever the history: for every (patient, metric) pair a correlated
    ``ORDER BY time DESC LIMIT 1`` finds the newest reading's id through the
    (patient_id, metric, time) index, so the cost is one index seek per pair, not a scan
    of the patient's readings.
    """
    if not patient_ids or not metrics:
        return {}
    wanted = union_all(*(select(literal(m, String()).label("metric")) for m in metrics)
                       ).subquery("wanted")
    newest = (
        select(Observation.id)
        .where(Observation.patient_id == Patient.id)
        .where(Observation.metric == wanted.c.metric)
        .order_by(col(Observation.time).desc(), col(Observation.id).desc())
        .limit(1)
        .correlate(Patient, wanted)
        .scalar_subquery()
    )
    ids = (select(newest).select_from(Patient).join(wanted, true())
           .where(col(Patient.id).in_(patient_ids)))
    stmt = select(Observation).where(col(Observation.id).in_(ids))
    out: dict[str, dict[str, Observation]] = {}
    for obs in (await session.exec(stmt)).all():
        out.setdefault(obs.patient_id, {})[obs.metric] = obs
    return out


async def latest_vitals(
    session: AsyncSession, who: Principal, patient_id: str, request_id: str | None = None
) -> dict[str, Any]:
    """The compact latest-vitals view of one patient (audited)."""
    await authorize_patient(session, who, patient_id, action="read", resource="observation",
                            reason=because("latest_vitals"), request_id=request_id)
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


# --- downsampled series for charts ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeriesQuery:
    """A chart's period: the metrics, ``since`` ≤ time ≤ ``until``, about ``points`` buckets."""

    metrics: tuple[str, ...]
    since: datetime
    until: datetime
    points: int


@dataclass(frozen=True, slots=True)
class MetricSeries:
    """One metric's buckets over a period, with the period's exact count, minimum, maximum."""

    metric: str
    buckets: list[Bucket]

    @property
    def count(self) -> int:
        return sum(b.count for b in self.buckets)

    @property
    def low(self) -> float | None:
        return min((b.min for b in self.buckets), default=None)

    @property
    def high(self) -> float | None:
        return max((b.max for b in self.buckets), default=None)


def _grouped_by_ranges(dialect: str, patient_id: str, metrics: Sequence[str],
                       since: datetime, until: datetime, width: int) -> Any:
    """The period's bucket edges (a recursive CTE, one row per bucket, the edges clipped to
    ``[since, until]``), each bucket's readings read as one range of the (patient, metric,
    time, value) index and aggregated by bucket.

    Nothing is computed per reading: turning each of 86,400 readings' time into epoch seconds
    (text on SQLite, a numeric on PostgreSQL) and sorting the rows by it was most of a 30-day
    chart's cost. A bucket includes its start, as ``floor(epoch / width)`` says; ``until``
    is inclusive, and readings are stored to the microsecond, so the last edge is ``until``
    plus one microsecond. SQLite stores the UTC time as text, ``YYYY-MM-DD HH:MM:SS.ffffff``,
    which sorts as the time does: an edge written ``YYYY-MM-DD HH:MM:SS`` sorts before every
    reading of that second."""
    c = OBSERVATIONS.c
    numbers = sa_select(literal(bucket_number(since, width), BigInteger()).label("n")).cte(
        "numbers", recursive=True)
    numbers = numbers.union_all(
        sa_select(numbers.c.n + 1).where(numbers.c.n < bucket_number(until, width)))
    postgres = dialect == "postgresql"

    def edge(number: Any) -> Any:
        if postgres:
            return func.to_timestamp(number * int(width))
        return func.strftime("%Y-%m-%d %H:%M:%S", number * int(width), "unixepoch")

    start, end = literal(since, UTCDateTime), literal(until + timedelta(microseconds=1),
                                                      UTCDateTime)
    edges = sa_select(  # SQLite's max(a, b) and min(a, b) of two values
        numbers.c.n.label("n"),
        (func.greatest if postgres else func.max)(edge(numbers.c.n), start).label("lo"),
        (func.least if postgres else func.min)(edge(numbers.c.n + 1), end).label("hi"),
    ).cte("edges")

    def one(metric: str) -> Any:  # one arm per metric: each bucket one range of the index
        found = and_(c.patient_id == patient_id, c.metric == metric,
                     c.time >= edges.c.lo, c.time < edges.c.hi)
        return (sa_select(literal(metric, String()).label("metric"), edges.c.n.label("n"),
                          func.count(), func.min(c.value), func.max(c.value),
                          func.sum(c.value), func.min(c.time), func.max(c.time))
                .select_from(edges.join(OBSERVATIONS, found)).group_by(edges.c.n))

    arms = union_all(*(one(m) for m in sorted(set(metrics)))).subquery("buckets")
    return sa_select(arms).order_by(arms.c.metric, arms.c.n)


async def bucketed(
    session: AsyncSession, patient_id: str, metrics: Sequence[str], since: datetime,
    until: datetime, width: int,
) -> dict[str, list[Bucket]]:
    """metric → its buckets of ``width`` seconds in ``[since, until]``, in one statement
    (a range of the (patient, metric, time, value) index per bucket, `_grouped_by_ranges`).
    No audit: callers audit."""
    if not metrics:
        return {}
    conn = await session.connection()
    stmt = _grouped_by_ranges(conn.dialect.name, patient_id, metrics, since, until, width)
    out: dict[str, list[Bucket]] = {m: [] for m in metrics}
    for metric, bucket, count, low, high, total, first, last in (await conn.execute(stmt)).all():
        out[metric].append(from_aggregates(int(bucket), width, int(count), float(low),
                                           float(high), float(total), first, last))
    return out


async def series(
    session: AsyncSession,
    who: Principal,
    patient_id: str,
    query: SeriesQuery,
    request_id: str | None = None,
) -> tuple[int, list[MetricSeries]]:
    """(bucket width in seconds, one downsampled series per metric) of a patient (audited)."""
    await authorize_patient(session, who, patient_id, action="read", resource="observation",
                            reason=because("vitals_series"), request_id=request_id)
    width = bucket_width(query.since, query.until, query.points)
    found = await bucketed(session, patient_id, query.metrics, query.since, query.until, width)
    await session.commit()
    return width, [MetricSeries(m, found.get(m, [])) for m in query.metrics]


def bucket_out(bucket: Bucket) -> dict[str, Any]:
    """One bucket of the series API."""
    return {
        "t": bucket.start.isoformat(),
        "first": bucket.first.isoformat(),
        "last": bucket.last.isoformat(),
        "count": bucket.count,
        "min": bucket.min,
        "max": bucket.max,
        "mean": round(bucket.mean, 4),
    }


def series_out(item: MetricSeries) -> dict[str, Any]:
    info = METRICS.get(item.metric)
    return {
        "metric": item.metric,
        "unit": info.canonical_unit if info is not None else "",
        "count": item.count,
        "min": item.low,
        "max": item.high,
        "buckets": [bucket_out(b) for b in item.buckets],
    }
