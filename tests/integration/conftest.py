"""Fixtures shared by the multi-process integration tests."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.broker_fixture import TestBroker
from tests.helpers.redis import REDIS_URL, redis_available
from tests.integration.cluster import Cluster


@pytest.fixture
async def cluster(tmp_path: Path, postgres_url: str,
                  broker: TestBroker) -> AsyncIterator[Cluster]:
    """A fresh migrated database, a Redis key prefix of its own and the broker fixture;
    every process started through it is terminated afterwards."""
    await redis_available()
    made = Cluster(root=tmp_path, database_url=postgres_url, redis_url=REDIS_URL,
                   redis_prefix=f"telemed-test:{secrets.token_hex(6)}:",
                   mqtt_url=broker.admin_url)
    try:
        await made.cli("db", "upgrade")
        yield made
    finally:
        await made.close()
