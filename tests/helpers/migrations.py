"""Migration tests: a database at a revision, its columns, and what differs from the models."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import SQLModel

from telemed.db import migrate


def columns(conn: Connection, table: str) -> set[str]:
    """The column names of `table` (for `conn.run_sync`)."""
    return {c["name"] for c in inspect(conn).get_columns(table)}


def schema_differences(conn: Connection) -> list[Any]:
    """What the database differs in from the models (for `conn.run_sync`): [] when equal."""
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, SQLModel.metadata))


@asynccontextmanager
async def database_at(url: str, revision: str) -> AsyncIterator[AsyncEngine]:
    """An engine on `url` migrated to `revision`; at the end, migrated to the head again."""
    await asyncio.to_thread(migrate.upgrade, url, revision)
    engine = create_async_engine(url)
    try:
        yield engine
        await asyncio.to_thread(migrate.upgrade, url)
    finally:
        await engine.dispose()
