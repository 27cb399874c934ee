"""Waiting for a condition in async tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.bus import ALERTS


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    """Poll ``check`` until it holds; fail after ``seconds``."""
    for _ in range(int(seconds / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def stream_subscribed(client: TestClient[Any, Any], count: int) -> None:
    """Wait until `count` alert streams listen on the bus."""
    bus: Any = client.app[keys.BUS]
    for _ in range(100):
        if bus.subscriber_count(ALERTS) >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the stream did not subscribe")
