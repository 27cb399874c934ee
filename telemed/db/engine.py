"""Async engine, session factory and the cleanup context that owns them."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed import keys
from telemed.bus import EventBus
from telemed.db import checkpoint
from telemed.db.events import BUS, EventSession
from telemed.settings import Settings

SessionFactory = async_sessionmaker[AsyncSession]
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
SQLITE_SIDECARS = ("-wal", "-shm", "-journal")


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory ones)."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1] if "///" in url else ""
    return Path(path) if path and path != ":memory:" else None


def secure_sqlite_file(path: Path) -> None:
    """Create the database file readable by its owner only (or make it so), and its WAL,
    shared-memory and journal files; SQLite gives the files it creates the database's mode."""
    path.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, PRIVATE_FILE))
    for candidate in (path, *(path.with_name(path.name + s) for s in SQLITE_SIDECARS)):
        with contextlib.suppress(FileNotFoundError):
            candidate.chmod(PRIVATE_FILE)


def secure_data_dir(settings: Settings) -> None:
    """DATA_DIR (keys, database, broker files) and the SQLite files: owner only. The
    directory is created here only for a SQLite database (as before); an existing one is
    always made private."""
    path = sqlite_path(settings.effective_database_url)
    if path is not None:
        settings.data_dir.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    if settings.data_dir.is_dir():
        settings.data_dir.chmod(PRIVATE_DIR)
    if path is not None:
        secure_sqlite_file(path)


def make_engine(url: str) -> AsyncEngine:
    """Create the engine; SQLite gets WAL (checkpointed by `telemed.db.checkpoint`), foreign
    keys and a busy timeout."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            for pragma in checkpoint.sqlite_pragmas():
                cursor.execute(pragma)
            cursor.close()

        return engine
    # No JIT compilation: it suits long analytical queries, and cost 20-30 ms of compiling on
    # the board's, charts' and population view's statements (their row estimates pass
    # jit_above_cost at 20,000 patients) that run in 5-100 ms without it.
    return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True,
                               connect_args={"server_settings": {"jit": "off"}})


def make_session_factory(engine: AsyncEngine,
                         bus: Callable[[], EventBus] | None = None) -> SessionFactory:
    """Sessions that keep objects usable after commit and, given the application's `bus`,
    publish the events their use cases recorded once they commit (`telemed.db.events`)."""
    return async_sessionmaker(engine, class_=EventSession, expire_on_commit=False,
                              info={BUS: bus} if bus is not None else None)


async def ping(engine: AsyncEngine) -> bool:
    """True when the database answers a trivial query."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    """Own the engine for the application's lifetime (and, on a SQLite file, the task that
    checkpoints its log)."""
    settings = app[keys.SETTINGS]
    secure_data_dir(settings)
    engine = make_engine(settings.effective_database_url)
    app[keys.ENGINE] = engine
    app[keys.SESSIONS] = make_session_factory(engine, bus=lambda: app[keys.BUS])
    url = settings.effective_database_url
    async with (checkpoint.in_background(url) if sqlite_path(url) is not None
                else contextlib.nullcontext()):
        yield
    await engine.dispose()
