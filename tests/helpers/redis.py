"""The test Redis: where it is, and skipping (or failing under CI) without it."""

from __future__ import annotations

import os

from tests.conftest import service_missing

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def redis_available(url: str = REDIS_URL) -> None:
    """Skip (or fail under CI) when the test Redis does not answer."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        await client.ping()
    except Exception as exc:
        service_missing(f"Redis at {url} ({exc})")
    finally:
        await client.aclose()
