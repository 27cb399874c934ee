"""A database seeded once per module and copied for each of its tests.

A module whose tests all start from the same people and records builds them once:

    @pytest.fixture(scope="module")
    def scene(tmp_path_factory): return seed(tmp_path_factory, build)   # build(world) -> data

    @pytest.fixture
    def settings(scene, tmp_path, tmp_path_factory):
        return fresh_settings(tmp_path, tmp_path_factory, template=scene.database)

Each test still gets its own database file and app; ids, usernames and bearer tokens made by
`build` (tokens live in the database) are valid in every copy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import pytest
from aiohttp.test_utils import TestClient, TestServer

from telemed.app import create_app
from tests.conftest import World, fresh_settings

T = TypeVar("T")


@dataclass(frozen=True)
class Seed(Generic[T]):
    database: Path  # the seeded SQLite file
    data: T


def seed(tmp_path_factory: pytest.TempPathFactory,
         build: Callable[[World], Awaitable[T]]) -> Seed[T]:
    """Run `build` once on a fresh app and database and keep both the database and its result.

    It runs on an event loop of its own, in a thread: module-scoped fixtures are set up
    outside the tests' (function-scoped) loops."""
    root = tmp_path_factory.mktemp("seed")
    settings = fresh_settings(root, tmp_path_factory)

    async def run() -> T:
        app = create_app(settings)
        async with TestClient(TestServer(app)) as client:
            return await build(World(app, client))

    with ThreadPoolExecutor(1) as pool:
        data = pool.submit(asyncio.run, run()).result()
    return Seed(root / "telemed.db", data)
