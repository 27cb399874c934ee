"""The query plans of the statements an app runs (the plan tests): each statement captured
with its parameters, then planned again (SQLite ``EXPLAIN QUERY PLAN``, PostgreSQL
``EXPLAIN``, or ``EXPLAIN ANALYZE`` to count what a plan read) on the app's engine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from telemed import keys


@contextmanager
def captured(app: Any, verbs: tuple[str, ...] = ("SELECT",)) -> Iterator[list[tuple[str, Any]]]:
    """The statements starting with one of ``verbs`` the app's engine runs inside the
    block, with their parameters."""
    seen: list[tuple[str, Any]] = []
    engine = app[keys.ENGINE].sync_engine

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if statement.lstrip().upper().startswith(verbs):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


async def plans(app: Any, statements: list[tuple[str, Any]]) -> list[tuple[str, list[str]]]:
    """Each statement with the lines of its query plan (nothing is run: EXPLAIN only)."""
    planned = []
    async with app[keys.ENGINE].connect() as conn:
        explain = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
        for statement, parameters in statements:
            rows = (await conn.exec_driver_sql(explain + statement, tuple(parameters))).all()
            planned.append((statement, [str(row[-1]) for row in rows]))
    return planned


async def analyzed(app: Any, statements: list[tuple[str, Any]]
                   ) -> list[tuple[str, list[dict[str, Any]]]]:
    """Each statement with the nodes of its PostgreSQL plan, run (``EXPLAIN (ANALYZE,
    FORMAT JSON)``), its subplans' included."""
    planned = []
    async with app[keys.ENGINE].connect() as conn:
        for statement, parameters in statements:
            plan = (await conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + statement,
                                               tuple(parameters))).scalar_one()  # decoded
            nodes: list[dict[str, Any]] = []
            todo = [plan[0]["Plan"]]
            while todo:
                node = todo.pop()
                nodes.append(node)
                todo += node.get("Plans", [])
            planned.append((statement, nodes))
    return planned


def rows_read(nodes: list[dict[str, Any]], table: str) -> int:
    """The rows an analyzed plan's scans of `table` read: kept and filtered out, every loop."""
    return sum(int((n["Actual Rows"] + n.get("Rows Removed by Filter", 0)
                    + n.get("Rows Removed by Index Recheck", 0)) * n["Actual Loops"])
               for n in nodes if n.get("Relation Name") == table)
