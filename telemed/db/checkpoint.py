"""SQLite's write-ahead log moved into the database file in the background.

By default the connection that commits past 1,000 pages of log copies the log into the
database file and syncs it, inside that commit: a batch of readings from thousands of devices
dirties thousands of index pages, so nearly every ingest commit paid for a checkpoint and its
`fsync` (at 5,000 devices and 3 million stored readings, most of the insert's wall time).
Here the engine's connections leave the log alone until `SAFETY_PAGES`
(``PRAGMA wal_autocheckpoint``, a bound should this task not run), and one task per process
checkpoints on a connection of its own: ``PASSIVE`` (it never waits for readers or the
writer, and a writer may commit meanwhile), a few times a second while there is log to copy.
An idle database costs nothing: a checkpoint with nothing to copy writes and syncs nothing.
Processes sharing the file may each run one; a checkpoint already running elsewhere makes
this one skip a turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from telemed.tasks import wait_set

log = logging.getLogger("telemed.db")

SAFETY_PAGES = 20_000  # about 80 MB of log before a committing connection checkpoints itself
LOG_SIZE_LIMIT = 64 * 1024 * 1024  # what is left of the log file after a reset
INTERVAL = 0.25  # seconds between checkpoints


def sqlite_pragmas() -> tuple[str, ...]:
    """The log settings of every SQLite connection of the engine."""
    return (f"PRAGMA wal_autocheckpoint={SAFETY_PAGES}",
            f"PRAGMA journal_size_limit={LOG_SIZE_LIMIT}")


async def checkpoint_once(engine: AsyncEngine) -> tuple[int, int, int]:
    """One passive checkpoint: (busy, pages in the log, pages copied into the file)."""
    async with engine.connect() as conn:
        row: tuple[Any, ...] = tuple((await conn.exec_driver_sql(
            "PRAGMA wal_checkpoint(PASSIVE)")).one())
    return int(row[0]), int(row[1]), int(row[2])


async def checkpoint_until(url: str, stop: asyncio.Event, interval: float = INTERVAL) -> None:
    """Checkpoint the database at ``url`` every ``interval`` seconds until ``stop`` is set,
    on an engine of its own (the application's pool and statements are left alone); a
    checkpoint under way is finished first. Errors are logged, not fatal: the connections'
    own checkpoint at `SAFETY_PAGES` still bounds the log."""
    engine = create_async_engine(url, pool_size=1, max_overflow=0)
    try:
        while not await wait_set(stop, interval):
            try:
                await checkpoint_once(engine)
            except Exception:
                log.exception("background checkpoint of the SQLite log failed")
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def in_background(url: str) -> AsyncIterator[None]:
    """`checkpoint_until` for the duration of the block (the last checkpoint finished)."""
    stop = asyncio.Event()
    task = asyncio.create_task(checkpoint_until(url, stop))
    try:
        yield
    finally:
        stop.set()
        await task
