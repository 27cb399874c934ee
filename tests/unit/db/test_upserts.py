"""`telemed.db.upserts.insert_on_conflict`: one builder, both engines' SQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, select
from sqlalchemy.dialects import postgresql, sqlite

from telemed.db.upserts import insert_on_conflict

ROWS = Table("rows", MetaData(), Column("a", String, primary_key=True),
             Column("b", String, primary_key=True), Column("n", Integer),
             Column("note", String))
DIALECTS: dict[str, Any] = {"postgresql": postgresql.dialect(), "sqlite": sqlite.dialect()}


def _sql(dialect: str, **kwargs: Any) -> str:
    stmt = insert_on_conflict(dialect, ROWS, ["a", "b"], **kwargs)
    return " ".join(str(stmt.compile(dialect=DIALECTS[dialect])).split())


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_each_engine_gets_its_conflict_clause(dialect: str) -> None:
    assert _sql(dialect).endswith("ON CONFLICT (a, b) DO NOTHING")
    assert _sql(dialect, update=["n", "note"]).endswith(
        "ON CONFLICT (a, b) DO UPDATE SET n = excluded.n, note = excluded.note")


def test_a_conflict_is_skipped_or_updates_the_columns_named() -> None:
    engine = create_engine("sqlite://")
    ROWS.metadata.create_all(engine)
    with engine.begin() as conn:
        first = {"a": "x", "b": "y", "n": 1, "note": "first"}
        skip = insert_on_conflict("sqlite", ROWS, ["a", "b"]).returning(ROWS.c.a)
        assert conn.execute(skip, [first]).scalars().all() == ["x"]
        assert conn.execute(skip, [first | {"n": 2}]).scalars().all() == []
        upsert = insert_on_conflict("sqlite", ROWS, ["a", "b"], update=["n"])
        conn.execute(upsert, [first | {"n": 3, "note": "ignored"}])
        assert conn.execute(select(ROWS.c.n, ROWS.c.note)).all() == [(3, "first")]
    engine.dispose()
