"""``INSERT ... ON CONFLICT`` on the engines Telemed runs on (PostgreSQL, SQLite): both
dialects' inserts take the same conflict clauses, built here once."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite

Insert = postgresql.Insert | sqlite.Insert


def insert_on_conflict(dialect: str, table: Table, keys: Sequence[str], *,
                       update: Sequence[str] = ()) -> Insert:
    """``INSERT INTO table … ON CONFLICT (keys)``: ``DO NOTHING``, or with `update` ``DO
    UPDATE SET`` each of those columns to the row proposed (``excluded``). `dialect` is the
    connection's: ``postgresql``, else SQLite."""
    stmt: Insert = (postgresql.insert(table) if dialect == "postgresql"
                    else sqlite.insert(table))
    if not update:
        return stmt.on_conflict_do_nothing(index_elements=list(keys))
    return stmt.on_conflict_do_update(index_elements=list(keys),
                                      set_={column: stmt.excluded[column] for column in update})
