"""The rows behind the read-only FHIR resources: their tables, search conditions, one page of
matches, and the lookups a page of rows needs (one statement each).

`telemed.api.fhir` parses the search parameters and maps rows to resources; every statement
is built and run here. A :class:`Table` names a resource's model, its patient column, its sort
order (the keyset of the paging cursor) and the filters that always apply.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import and_, exists, false, func, literal, or_, tuple_
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import (
    Alert,
    AuditEvent,
    CarePlan,
    Observation,
    Patient,
    User,
    Visit,
    VisitParticipant,
)
from telemed.domain.units import METRICS
from telemed.services.patients import search_condition

Condition = ColumnElement[bool]
DatePrefix = Literal["eq", "ne", "gt", "ge", "lt", "le", "sa", "eb"]
TotalMode = Literal["none", "estimate", "accurate"]


@dataclass(frozen=True, slots=True)
class DateBound:
    """One date search value: a prefix and the range [start, end) its precision covers."""

    prefix: DatePrefix
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Walk:
    """An order of a table's rows, unique (a keyset): its columns, which way."""

    columns: tuple[Any, ...]
    descending: bool

    def after(self, key: Sequence[Any]) -> Condition:
        """Rows strictly after ``key`` in this order."""
        columns = tuple_(*self.columns)
        values = tuple_(*(literal(v, type_=c.type)
                          for c, v in zip(self.columns, key, strict=True)))
        return columns < values if self.descending else columns > values

    def by(self, columns: Sequence[Any]) -> list[Any]:
        """`columns` (this order's, or a derived table's of them) sorted this way."""
        return [c.desc() if self.descending else c.asc() for c in columns]


@dataclass(frozen=True)
class Table:
    """The rows behind a resource: model, patient column, sort order, always-on filters.
    An index holds the rows in that order (with the filters' equalities leading, or partial
    on them): reading the next rows in it costs those rows."""

    model: Any
    patient: Any
    order: tuple[Any, ...]
    descending: bool = True
    base: tuple[Any, ...] = ()

    def key(self, row: Any) -> tuple[Any, ...]:
        """The sort key of a row (what a cursor remembers)."""
        return tuple(getattr(row, column.key) for column in self.order)

    @property
    def walk(self) -> Walk:
        """The search's order."""
        return Walk(self.order, self.descending)

    @property
    def primary_key(self) -> Any:
        """The model's primary key column (one column)."""
        (column,) = self.model.__table__.primary_key.columns
        return column


# --- shared SQL -----------------------------------------------------------------------------


def keyset_after(table: Table, key: Sequence[Any]) -> Condition:
    """Rows strictly after ``key`` in the table's sort order."""
    return table.walk.after(key)


def date_condition(column: Any, bound: DateBound) -> Condition:
    """A point in time ``column`` against one date search value (FHIR prefix semantics)."""
    start, end = bound.start, bound.end
    match bound.prefix:
        case "eq":
            return (column >= start) & (column < end)  # type: ignore[no-any-return]
        case "ne":
            return or_(column < start, column >= end)
        case "gt" | "sa":
            return column >= end  # type: ignore[no-any-return]
        case "ge":
            return column >= start  # type: ignore[no-any-return]
        case "lt" | "eb":
            return column < start  # type: ignore[no-any-return]
        case "le":
            return column < end  # type: ignore[no-any-return]


def date_conditions(column: Any, bounds: Sequence[Sequence[DateBound]]) -> list[Condition]:
    """AND of every occurrence, OR within one."""
    return [or_(*(date_condition(column, b) for b in alternatives)) for alternatives in bounds]


def in_any(column: Any, alternatives: Sequence[Sequence[Any]]) -> list[Condition]:
    """``column IN (...)`` for every occurrence of a parameter."""
    return [column.in_(list(values)) for values in alternatives]


TOTAL_CAP = 250  # matches counted for `total` unless `_total=accurate` asks for all
# (small enough that PostgreSQL does not JIT-compile the count: that alone cost 65 ms)


@dataclass(frozen=True)
class Page:
    """The rows of one page, how many match in all (None: not counted), whether more follow."""

    rows: list[Any]
    total: int | None
    more: bool


async def _count(session: AsyncSession, table: Table, stmt: Any,
                 cap: int | None) -> int | None:
    """Matches of `stmt`, or None past `cap` (counting stops there)."""
    if cap is not None:  # a column of the table keeps its FROM (scope correlates to it)
        stmt = stmt.with_only_columns(table.patient).limit(cap + 1)
    found = int((await session.exec(select(func.count()).select_from(stmt.subquery()))).one())
    return None if cap is not None and found > cap else found


WINDOW = 2  # a windowed read takes its candidates from windows of this many times its size


async def _windowed(session: AsyncSession, table: Table, what: Any, conditions: Sequence[Any],
                    scope: Any, walk: Walk, after: Sequence[Any] | None,
                    wanted: int) -> list[Any]:
    """The first `wanted` rows (`what`: the model, or one of its columns) of `conditions`
    that meet `scope`, after `after` in the order `walk`: a window of the next rows of
    `conditions` in that order (twice as many), read by its index, joined back by the
    primary key; the scope tested on those rows only; the next window, twice as large, only
    when fewer pass than wanted. For PostgreSQL: its planner runs the scope's subqueries
    once per row of a window, so what is read grows with the page (and with the rows the
    scope refuses), not with the patients a clinician may see; over the whole table it read
    the care team whole into a hash first (`scope.on_team`: 20,000 rows for the 101 of a
    page)."""
    key = table.primary_key
    columns = [*walk.columns, *([] if any(c.key == key.key for c in walk.columns) else [key])]
    found: list[Any] = []
    size = WINDOW * wanted
    while len(found) < wanted:
        window = select(*columns).where(*table.base, *conditions)
        if after is not None:
            window = window.where(walk.after(after))
        window = window.order_by(*walk.by(walk.columns)).limit(size)
        rows = window.subquery("candidates")
        found += (await session.exec(
            select(what).join(rows, rows.c[key.key] == key).where(scope)
            .order_by(*walk.by([rows.c[column.key] for column in walk.columns]))
            .limit(wanted - len(found)))).all()
        if len(found) >= wanted:
            break
        last = (await session.exec(window.offset(size - 1).limit(1))).first()
        if last is None:  # the window held every row left
            break
        edge = tuple(last) if len(columns) > 1 else (last,)  # one column comes as a scalar
        after, size = edge[:len(walk.columns)], size * 2
    return found


async def find(
    session: AsyncSession,
    table: Table,
    conditions: Sequence[Any],
    scope: Any | None,
    after: Sequence[Any] | None,
    limit: int,
    total: TotalMode | None = None,
    *,
    windowed: bool = False,
) -> Page:
    """One page of matching rows in the table's order, and the total count (`total`: the
    `_total` asked; by default counted up to `TOTAL_CAP`, not at all when the first page
    holds every match).

    `windowed`, for a broad scope (a clinician's patients: most rows pass; a narrow one, a
    patient's own record, is served by its index): each row is tested in the table's order
    and the page stops the reading. SQLite's plan of the plain statement does that (it
    walks the order's index); on PostgreSQL the page tests `scope` on windows of that
    order (`_windowed`), and so does the capped count."""
    stmt = select(table.model).where(*table.base, *conditions)
    if scope is not None:
        stmt = stmt.where(scope)
    postgres = session.bind is not None and session.bind.dialect.name == "postgresql"
    walk = windowed and scope is not None and postgres
    cap = None if total == "accurate" else TOTAL_CAP

    async def count() -> int | None:
        if not walk or cap is None:
            return await _count(session, table, stmt, cap)
        found = len(await _windowed(session, table, table.patient, conditions, scope,
                                    table.walk, None, cap + 1))
        return None if found > cap else found

    if limit == 0:
        return Page([], None if total == "none" else await count(), False)
    if walk:
        rows = await _windowed(session, table, table.model, conditions, scope, table.walk,
                               after, limit + 1)
    else:
        page = stmt if after is None else stmt.where(keyset_after(table, after))
        rows = list((await session.exec(
            page.order_by(*table.walk.by(table.order)).limit(limit + 1))).all())
    more = len(rows) > limit
    if total == "none":
        counted = None
    elif after is None and not more and total != "accurate":
        counted = len(rows)  # the first page holds every match
    else:
        counted = await count()
    return Page(rows[:limit], counted, more)


async def by_id(session: AsyncSession, model: Any, ident: Any) -> Any:
    """The row of `model` with primary key `ident`, or None (a read by id)."""
    return await session.get(model, ident)


# --- Appointment: visits ------------------------------------------------------------------

APPOINTMENTS = Table(Visit, col(Visit.patient_id), (col(Visit.scheduled_start), col(Visit.id)))


def appointment_conditions(dates: Sequence[Sequence[DateBound]],
                           statuses: Sequence[Sequence[str]]) -> list[Condition]:
    return date_conditions(col(Visit.scheduled_start), dates) + in_any(col(Visit.status),
                                                                      statuses)


async def visit_practitioners(
    session: AsyncSession, visit_ids: Sequence[str]
) -> dict[str, list[tuple[str, str]]]:
    """visit id → (user id, display name) of its invited clinicians, by name."""
    if not visit_ids:
        return {}
    found = await session.exec(
        select(VisitParticipant.visit_id, User.id, User.display_name)
        .join(User, col(User.id) == col(VisitParticipant.user_id))
        .where(col(VisitParticipant.visit_id).in_(list(visit_ids)))
        .order_by(col(User.display_name), col(User.id))
    )
    by_visit: dict[str, list[tuple[str, str]]] = {}
    for visit_id, user_id, name in found.all():
        by_visit.setdefault(visit_id, []).append((user_id, name))
    return by_visit


# --- AuditEvent: the patients' access logs ---------------------------------------------------

AUDIT_EVENTS = Table(AuditEvent, col(AuditEvent.patient_id), (col(AuditEvent.id),),
                     base=(col(AuditEvent.patient_id).is_not(None),))


def audit_event_conditions(dates: Sequence[Sequence[DateBound]]) -> list[Condition]:
    return date_conditions(col(AuditEvent.at), dates)


# --- CarePlan: the current version of each plan --------------------------------------------

CAREPLANS = Table(CarePlan, col(CarePlan.patient_id),
                  (col(CarePlan.period_start), col(CarePlan.plan_id)),
                  base=(col(CarePlan.is_current).is_(True),))


def careplan_conditions(statuses: Sequence[Sequence[str]]) -> list[Condition]:
    return in_any(col(CarePlan.status), statuses)


async def current_careplan(session: AsyncSession, plan_id: str) -> CarePlan | None:
    """The current version of `plan_id` (not audited: the FHIR handlers audit)."""
    return (await session.exec(
        select(CarePlan).where(CarePlan.plan_id == plan_id)
        .where(col(CarePlan.is_current).is_(True))
    )).first()


# --- Flag: alerts that need attention --------------------------------------------------------

FLAG_STATUSES = ("open", "acknowledged")
FLAGS = Table(Alert, col(Alert.patient_id), (col(Alert.opened_at), col(Alert.id)),
              base=(col(Alert.status).in_(FLAG_STATUSES),))


# --- Observation: readings, blood pressure as one panel ------------------------------------

SYSTOLIC, DIASTOLIC = "bp_systolic", "bp_diastolic"
NOT_EXPORTED = frozenset(name for name, info in METRICS.items() if info.loinc is None)
EXPORTED_METRICS = tuple(name for name in METRICS if name not in NOT_EXPORTED)
PairKey = tuple[str, str, datetime]


def pair_key(row: Observation) -> PairKey:
    """What the two readings of one blood-pressure measurement share."""
    return (row.patient_id, row.device_id, row.time)


def _same_measurement(other: Any) -> Any:
    return and_(col(other.patient_id) == col(Observation.patient_id),
                col(other.device_id) == col(Observation.device_id),
                col(other.time) == col(Observation.time))


_SYSTOLIC_ROW = aliased(Observation)
# Rows exported as one Observation each: everything but battery, and a diastolic reading only
# when no systolic reading of the same measurement carries it in its panel.
ANCHOR = and_(
    col(Observation.metric).in_(EXPORTED_METRICS),
    or_(col(Observation.metric) != DIASTOLIC,
        ~exists().where(col(_SYSTOLIC_ROW.metric) == SYSTOLIC,
                        _same_measurement(_SYSTOLIC_ROW))),
)
OBSERVATIONS = Table(Observation, col(Observation.patient_id),
                     (col(Observation.time), col(Observation.id)), base=(ANCHOR,))


def observation_conditions(metric_sets: Iterable[Iterable[str]],
                           dates: Sequence[Sequence[DateBound]]) -> list[Condition]:
    """Every set of metrics (one per ``code`` or ``category`` occurrence), and the dates."""
    conditions: list[Condition] = [col(Observation.metric).in_(set(metrics))
                                   for metrics in metric_sets]
    return conditions + date_conditions(col(Observation.time), dates)


async def diastolic_partners(
    session: AsyncSession, systolic: Sequence[Observation]
) -> dict[PairKey, Observation]:
    """The diastolic reading of each systolic one's measurement, in one statement."""
    if not systolic:
        return {}
    found = await session.exec(
        select(Observation).where(Observation.metric == DIASTOLIC).where(or_(*(
            and_(col(Observation.patient_id) == r.patient_id,
                 col(Observation.device_id) == r.device_id, col(Observation.time) == r.time)
            for r in systolic
        )))
    )
    return {pair_key(row): row for row in found.all()}


async def has_systolic_partner(session: AsyncSession, diastolic: Observation) -> bool:
    """True when a systolic reading of the same measurement exists (it carries the panel)."""
    return (await session.exec(
        select(Observation.id).where(Observation.metric == SYSTOLIC)
        .where(Observation.patient_id == diastolic.patient_id)
        .where(Observation.device_id == diastolic.device_id)
        .where(Observation.time == diastolic.time)
    )).first() is not None


# --- Patient: demographics ------------------------------------------------------------------

PATIENTS = Table(Patient, col(Patient.id),
                 (col(Patient.family_name), col(Patient.given_name), col(Patient.id)),
                 descending=False)


def patient_conditions(ids: Sequence[Sequence[str]], fiscal_codes: Sequence[Sequence[str]],
                       names: Sequence[Sequence[str]]) -> list[Condition]:
    """By id, by fiscal code (each occurrence a set of codes), by name (starts-with, any case
    and accent)."""
    conditions = in_any(col(Patient.id), ids)
    conditions += [col(Patient.fiscal_code).in_(list(codes)) for codes in fiscal_codes]
    for alternatives in names:
        matches = [found for found in map(search_condition, alternatives) if found is not None]
        conditions.append(or_(*matches) if matches else false())
    return conditions
