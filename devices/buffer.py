"""The device's on-disk outbox: one SQLite row per SenML pack, deleted only after its PUBACK.

All SQLite work happens in one writer thread that takes every queued operation it finds and
runs them in a single transaction, so thousands of packs a second cost a few commits, and
the event loop never waits on the disk. Several device clients may share one buffer file.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS packs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_packs_device ON packs (device_id, id);
"""
MAX_BATCH = 2000
DEFAULT_MAX_AGE = 30 * 86400.0  # the platform refuses readings older than 30 days

# Operations run in the writer thread and must not return cursors (SQLite objects may only
# be touched by that thread).
Operation = Callable[[sqlite3.Connection], Any]


@dataclass(frozen=True)
class BufferedPack:
    id: int
    payload: bytes


class PackBuffer:
    """A durable FIFO of packs per device, backed by one SQLite file."""

    def __init__(self, path: Path | str, *, max_age: float = DEFAULT_MAX_AGE) -> None:
        self.path = str(path)
        self.max_age = max_age
        self._queue: queue.SimpleQueue[tuple[Operation, asyncio.Future[Any]] | None] = (
            queue.SimpleQueue())
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def open(self) -> None:
        """Start the writer thread, create the table, forget packs too old to be accepted."""
        if self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="pack-buffer", daemon=True)
        self._thread.start()
        cutoff = time.time() - self.max_age

        def prune(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM packs WHERE created_at < ?", (cutoff,)).close()

        await self._submit(prune)

    async def close(self) -> None:
        """Finish queued work and stop the writer thread."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._queue.put(None)
        await asyncio.to_thread(thread.join)

    async def __aenter__(self) -> PackBuffer:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # Operations -------------------------------------------------------------------------

    async def add(self, device_id: str, payload: bytes) -> int:
        """Store a pack durably; returns its row id."""
        now = time.time()

        def insert(db: sqlite3.Connection) -> int:
            cursor = db.execute(
                "INSERT INTO packs (device_id, payload, created_at) VALUES (?, ?, ?)",
                (device_id, payload, now))
            row_id = int(cursor.lastrowid or 0)
            cursor.close()
            return row_id

        result: int = await self._submit(insert)
        return result

    async def pending(self, device_id: str, *, after: int = 0,
                      limit: int = 100) -> list[BufferedPack]:
        """The device's oldest packs with a row id above `after`."""
        def select(db: sqlite3.Connection) -> list[BufferedPack]:
            rows = db.execute(
                "SELECT id, payload FROM packs WHERE device_id = ? AND id > ? ORDER BY id "
                "LIMIT ?", (device_id, after, limit)).fetchall()
            return [BufferedPack(int(row[0]), bytes(row[1])) for row in rows]

        result: list[BufferedPack] = await self._submit(select)
        return result

    async def remove(self, ids: Sequence[int]) -> None:
        """Delete delivered packs."""
        if not ids:
            return
        rows = [(pack_id,) for pack_id in ids]

        def delete(db: sqlite3.Connection) -> None:
            db.executemany("DELETE FROM packs WHERE id = ?", rows).close()

        await self._submit(delete)

    async def count(self, device_id: str | None = None) -> int:
        """How many packs wait (for one device, or all)."""
        def counter(db: sqlite3.Connection) -> int:
            if device_id is None:
                return int(db.execute("SELECT COUNT(*) FROM packs").fetchone()[0])
            return int(db.execute("SELECT COUNT(*) FROM packs WHERE device_id = ?",
                                  (device_id,)).fetchone()[0])

        result: int = await self._submit(counter)
        return result

    # Writer thread ----------------------------------------------------------------------

    def _submit(self, operation: Operation) -> asyncio.Future[Any]:
        if self._thread is None or self._loop is None:
            raise RuntimeError("the pack buffer is not open")
        future: asyncio.Future[Any] = self._loop.create_future()
        self._queue.put((operation, future))
        return future

    def _run(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
            stop = False
            while not stop:
                first = self._queue.get()
                batch = []
                if first is None:
                    stop = True
                else:
                    batch.append(first)
                while len(batch) < MAX_BATCH:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        stop = True
                        continue
                    batch.append(item)
                if batch:
                    self._execute(db, batch)
        finally:
            db.close()

    def _execute(self, db: sqlite3.Connection,
                 batch: list[tuple[Operation, asyncio.Future[Any]]]) -> None:
        results: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        try:
            db.execute("BEGIN IMMEDIATE")
            for operation, future in batch:
                try:
                    results.append((future, operation(db), None))
                except sqlite3.Error as exc:
                    results.append((future, None, exc))
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            results = [(future, None, exc) for _, future in batch]
        loop = self._loop
        if loop is None:
            return
        for future, value, error in results:
            with contextlib.suppress(RuntimeError):  # loop closed
                loop.call_soon_threadsafe(_settle, future, value, error)


def _settle(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)
