"""The benchmarks' databases: a migrated SQLite file, or a PostgreSQL database of their own
(created on the server of ``TEST_POSTGRES_DSN``, or ``TELEMED_TEST_PG``, and dropped after)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from telemed.db import migrate

PG_ADMIN_DSN = (os.environ.get("TEST_POSTGRES_DSN") or os.environ.get("TELEMED_TEST_PG")
                or "postgresql://postgres@127.0.0.1:5432/postgres")


async def _admin(*statements: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        for statement in statements:
            await admin.execute(statement)
    finally:
        await admin.close()


async def sqlite_database(path: Path) -> str:
    """The URL of a migrated SQLite database at `path`."""
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(migrate.upgrade, url)
    return url


async def create_database(name: str, *, migrated: bool = True) -> str:
    """The URL of a new (emptied) PostgreSQL database `name`, migrated unless told not to."""
    await _admin(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    url = f"{base}/{name}"
    if migrated:
        await asyncio.to_thread(migrate.upgrade, url)
    return url


async def drop_database(name: str) -> None:
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.asynccontextmanager
async def postgres_database(name: str, *, migrated: bool = True) -> AsyncIterator[str]:
    """`create_database`, dropped at the end (also when the migration fails)."""
    try:
        yield await create_database(name, migrated=migrated)
    finally:
        await drop_database(name)
