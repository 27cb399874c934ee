"""The on-disk outbox keeps packs in order per device until they are removed."""

from __future__ import annotations

import asyncio
from pathlib import Path

from devices.buffer import PackBuffer


async def test_fifo_per_device_and_durable(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    async with PackBuffer(path) as buffer:
        ids = [await buffer.add("a", f"pack{n}".encode()) for n in range(5)]
        await buffer.add("b", b"other")
        assert ids == sorted(ids)
        first = await buffer.pending("a", limit=2)
        assert [p.payload for p in first] == [b"pack0", b"pack1"]
        later = await buffer.pending("a", after=first[-1].id, limit=10)
        assert [p.payload for p in later] == [b"pack2", b"pack3", b"pack4"]
        await buffer.remove([first[0].id, first[1].id])
        assert await buffer.count("a") == 3
        assert await buffer.count() == 4
    async with PackBuffer(path) as reopened:
        assert [p.payload for p in await reopened.pending("a")] == [b"pack2", b"pack3",
                                                                     b"pack4"]


async def test_concurrent_adds_are_batched_and_all_kept(tmp_path: Path) -> None:
    async with PackBuffer(tmp_path / "outbox.db") as buffer:
        await asyncio.gather(*(buffer.add(f"d{n % 7}", b"x") for n in range(700)))
        assert await buffer.count() == 700
        assert await buffer.count("d3") == 100


async def test_packs_older_than_the_platform_accepts_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    async with PackBuffer(path) as buffer:
        await buffer.add("a", b"old")
    async with PackBuffer(path, max_age=-1) as buffer:
        assert await buffer.count() == 0
