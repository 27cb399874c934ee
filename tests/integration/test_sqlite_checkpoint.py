"""SQLite's log is copied into the database file by a task of its own, not by the commits
(`telemed.db.checkpoint`): what a commit wrote reaches the file within moments, while the
engine's connections leave the log alone below their bound. The task has an engine of its own:
the application's pool and statement counts do not see it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from aiohttp import web
from sqlalchemy import text

from telemed import keys
from telemed.db import checkpoint
from telemed.db.engine import database_ctx, make_engine
from telemed.settings import load_settings
from tests.helpers.statements import counting

BLOB = 200_000  # about 50 pages of log, well below the 1,000 of SQLite's own default
GROWN = BLOB * 9 // 10  # the blob's overflow pages, less their headers


def _size(path: Path) -> int:
    return path.stat().st_size


async def _grows(path: Path, beyond: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _size(path) >= beyond:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_the_application_checkpoints_its_log(tmp_path: Path) -> None:
    path = tmp_path / "telemed.db"
    app = web.Application()
    app[keys.SETTINGS] = load_settings(env="test", secret_key="k" * 40, data_dir=tmp_path,
                                       database_url=f"sqlite+aiosqlite:///{path}")
    context = database_ctx(app)
    await context.__anext__()
    try:
        engine = app[keys.ENGINE]
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE blobs (data BLOB)"))
        await asyncio.sleep(2 * checkpoint.INTERVAL)
        before = _size(path)
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO blobs VALUES (randomblob(:n))"), {"n": BLOB})
        with counting(app) as statements:
            assert await _grows(path, before + GROWN, 5.0), "the log stayed out of the file"
            await asyncio.sleep(2 * checkpoint.INTERVAL)
        assert statements == []  # on an engine of its own: no request counts its statements
    finally:
        with contextlib.suppress(StopAsyncIteration):  # the context's own cleanup
            await context.__anext__()


async def test_a_commit_leaves_the_log_to_the_task(tmp_path: Path) -> None:
    path = tmp_path / "bare.db"
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.begin() as conn:
            pages = (await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one()
            assert pages == checkpoint.SAFETY_PAGES
            await conn.execute(text("CREATE TABLE blobs (data BLOB)"))
        before = _size(path)
        for _ in range(6):  # 1,200,000 bytes: past SQLite's default of 1,000 pages
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO blobs VALUES (randomblob(:n))"),
                                   {"n": BLOB})
        assert _size(path) == before  # no commit checkpointed
        busy, logged, copied = await checkpoint.checkpoint_once(engine)
        assert busy == 0 and logged == copied > 250
        assert _size(path) >= before + 6 * GROWN
    finally:
        await engine.dispose()
