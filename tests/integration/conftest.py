"""Fixtures shared by the integration tests: the app on PostgreSQL (and a `World` on it), the
multi-process cluster."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from telemed.app import create_app
from telemed.settings import Settings, load_settings
from tests.broker_fixture import TestBroker
from tests.conftest import World
from tests.helpers.net import free_port
from tests.helpers.node_fhir import FhirServer
from tests.helpers.redis import REDIS_URL, redis_available
from tests.integration.cluster import Cluster

Client = TestClient[Any, Any]


@pytest.fixture
async def postgres_app(settings: Settings, migrated_postgres_url: str,
                       tmp_path: Path) -> web.Application:
    """The test app on a fresh, migrated PostgreSQL database (a module uses it as `app`)."""
    values = settings.model_dump()
    values.update(database_url=migrated_postgres_url, data_dir=tmp_path)
    return create_app(load_settings(**values))


@pytest.fixture
async def postgres_world(aiohttp_client: Callable[[web.Application], Awaitable[Client]],
                         postgres_app: web.Application) -> World:
    """People and patients (`World`) on the test app on PostgreSQL, with its client."""
    return World(postgres_app, await aiohttp_client(postgres_app))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def either_app(settings: Settings, request: pytest.FixtureRequest) -> web.Application:
    """The test app once on SQLite and once on a fresh PostgreSQL database (a module that
    runs on both uses it as `app`)."""
    if request.param == "sqlite":
        return create_app(settings)
    postgres: web.Application = request.getfixturevalue("postgres_app")
    return postgres


@pytest.fixture
async def cluster(tmp_path: Path, migrated_postgres_url: str,
                  broker: TestBroker) -> AsyncIterator[Cluster]:
    """A fresh migrated database, a Redis key prefix of its own and the broker fixture;
    every process started through it is terminated afterwards."""
    await redis_available()
    made = Cluster(root=tmp_path, database_url=migrated_postgres_url, redis_url=REDIS_URL,
                   redis_prefix=f"telemed-test:{secrets.token_hex(6)}:",
                   mqtt_url=broker.admin_url)
    try:
        yield made
    finally:
        await made.close()


@pytest.fixture
async def fhir_server() -> AsyncIterator[FhirServer]:
    """A real FHIR server (Medplum's router, in memory) on a free port, not yet started: the
    test starts (and may stop) it; it is stopped afterwards."""
    server = FhirServer(free_port())
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database, once SQLite and once PostgreSQL (for migration tests)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'telemed.db'}"
    return str(request.getfixturevalue("postgres_url"))
