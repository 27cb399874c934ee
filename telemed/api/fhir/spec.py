"""What the generic FHIR handlers need to know of one resource type, and the shared queries.

A :class:`ResourceSpec` ties together the table behind a resource, its search parameters
(parsed into SQL conditions before the database is touched), its sort order (the keyset of
the paging cursor), the mapper of a page of rows, and how one resource is read by id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, literal, or_, tuple_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.api.fhir.search import DateBound, KeyType, SearchParam, SearchQuery, TotalMode
from telemed.principal import Principal, Role
from telemed.services.audit import Resource

Condition = ColumnElement[bool]


@dataclass(frozen=True)
class Entry:
    """One resource of a result, the patient it belongs to and its row (``source``)."""

    patient_id: str
    resource: dict[str, Any]
    source: Any = None


@dataclass(frozen=True)
class Table:
    """The rows behind a resource: model, patient column, sort order, always-on filters."""

    model: Any
    patient: Any
    order: tuple[Any, ...]
    descending: bool = True
    base: tuple[Any, ...] = ()

    def key(self, row: Any) -> tuple[Any, ...]:
        """The sort key of a row (what a cursor remembers)."""
        return tuple(getattr(row, column.key) for column in self.order)


Render = Callable[[AsyncSession, Sequence[Any]], Awaitable[list[Entry]]]
Load = Callable[[AsyncSession, str], Awaitable[Entry | None]]
Authorize = Callable[[AsyncSession, Principal, Entry, str | None], Awaitable[None]]


def no_conditions(query: SearchQuery) -> list[Any]:
    return []


@dataclass(frozen=True)
class ResourceSpec:
    """A FHIR resource type served read-only under /fhir/R4."""

    type: str
    audit_resource: Resource
    roles: tuple[Role, ...]
    table: Table
    key_types: tuple[KeyType, ...]
    render: Render
    load: Load
    params: tuple[SearchParam, ...] = ()
    conditions: Callable[[SearchQuery], list[Any]] = no_conditions
    patient_params: tuple[str, ...] = ("patient",)
    # Extra rows a caller may list besides those of the patients they see (or None).
    extra_scope: Callable[[Principal], Any] | None = None
    # Custom access check for reads by id (default: authorize_patient on the entry's patient).
    authorize: Authorize | None = None
    profile: str | None = None
    supported_profiles: tuple[str, ...] = ()
    documentation: str = ""
    param_map: Mapping[str, SearchParam] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "param_map", {p.name: p for p in self.params})


# --- shared SQL -----------------------------------------------------------------------------


def keyset_after(table: Table, key: Sequence[Any]) -> Condition:
    """Rows strictly after ``key`` in the table's sort order."""
    columns = tuple_(*table.order)
    values = tuple_(*(literal(v, type_=c.type) for c, v in zip(table.order, key, strict=True)))
    return columns < values if table.descending else columns > values


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


async def find(
    session: AsyncSession,
    table: Table,
    conditions: Sequence[Any],
    scope: Any | None,
    after: Sequence[Any] | None,
    limit: int,
    total: TotalMode | None = None,
) -> Page:
    """One page of matching rows in the table's order, and the total count (`total`: the
    `_total` asked; by default counted up to `TOTAL_CAP`, not at all when the first page
    holds every match)."""
    stmt = select(table.model).where(*table.base, *conditions)
    if scope is not None:
        stmt = stmt.where(scope)
    cap = None if total == "accurate" else TOTAL_CAP
    if limit == 0:
        return Page([], None if total == "none" else await _count(session, table, stmt, cap), False)
    page = stmt
    if after is not None:
        page = page.where(keyset_after(table, after))
    order = [c.desc() if table.descending else c.asc() for c in table.order]
    rows = list((await session.exec(page.order_by(*order).limit(limit + 1))).all())
    more = len(rows) > limit
    if total == "none":
        counted = None
    elif after is None and not more and total != "accurate":
        counted = len(rows)  # the first page holds every match
    else:
        counted = await _count(session, table, stmt, cap)
    return Page(rows[:limit], counted, more)
