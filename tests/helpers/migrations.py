"""Checking one migration on SQLite and PostgreSQL with rows the older schema wrote
(the `database_url` fixture of tests/integration/conftest.py gives both databases)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlmodel import SQLModel

from telemed.db import migrate
from telemed.db.engine import secure_sqlite_file, sqlite_path

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

# A new SQLite file migrated to a revision, by revision ("0001" ... in order), once a session.
_SQLITE_AT: dict[str, bytes] = {}


@contextlib.asynccontextmanager
async def upgraded_over(url: str, rows: Callable[[AsyncConnection], Awaitable[None]], *,
                        before: str, after: str = "head") -> AsyncIterator[AsyncEngine]:
    """`rows` written by the schema at revision `before`, then the database upgraded to
    `after`; an engine on it for the checks (disposed afterwards)."""
    await _new_database_at(url, before)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await rows(conn)
        await upgrade(url, after)
        yield engine
    finally:
        await engine.dispose()


async def _new_database_at(url: str, revision: str) -> None:
    """`upgrade(url, revision)` of an empty database. A new SQLite file starts as a copy of one
    already migrated this session to `revision`, or to the nearest revision before it (the
    migrations to the older schema are the set-up, not what a test checks)."""
    path = sqlite_path(url)
    if path is None or path.exists():
        await upgrade(url, revision)
        return
    start = max((r for r in _SQLITE_AT if r <= revision), default=None)
    if start is not None:
        secure_sqlite_file(path)
        path.write_bytes(_SQLITE_AT[start])
    if start != revision:
        await upgrade(url, revision)
        _SQLITE_AT[revision] = path.read_bytes()


async def upgrade(url: str, revision: str = "head", timezone: str | None = None) -> None:
    await asyncio.to_thread(migrate.upgrade, url, revision, timezone)


async def downgrade(url: str, revision: str) -> None:
    await asyncio.to_thread(command.downgrade, migrate.alembic_config(url), revision)


async def old_patient(conn: AsyncConnection, pid: str = "p1", code: str = "RSSMRA50A01H501U",
                      given: str = "Mario", family: str = "Rossi") -> None:
    """A patient row as every schema since 0001 takes it."""
    await conn.execute(text(
        "INSERT INTO patients (id, fiscal_code, given_name, family_name, birth_date, sex, "
        "timezone, created_at, updated_at) VALUES (:id, :code, :given, :family, :birth, 'M', "
        "'Europe/Rome', :t, :t)"),
        {"id": pid, "code": code, "given": given, "family": family,
         "birth": date(1950, 1, 1), "t": T0})


def columns(conn: Connection, table: str) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns(table)}


def indexes(conn: Connection, table: str) -> set[str]:
    return {i["name"] for i in inspect(conn).get_indexes(table) if i["name"]}


def tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def schema_differences(conn: Connection) -> list[Any]:
    """What the models have that the migrated schema has not (and back): empty when equal."""
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, SQLModel.metadata))
