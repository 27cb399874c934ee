"""Login counting and session revocation on PostgreSQL (compare-and-set under real
concurrency, several connections)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlmodel import select

from telemed import keys
from telemed.app import create_app
from telemed.db.models import User
from telemed.settings import Settings, load_settings
from tests.conftest import PASSWORD, World

pytestmark = pytest.mark.postgres
TOKEN = "/api/v1/auth/token"


@pytest.fixture
async def app(settings: Settings, migrated_postgres_url: str,
              tmp_path: Path) -> web.Application:
    values = settings.model_dump()
    values.update(database_url=migrated_postgres_url, data_dir=tmp_path,
                  trusted_proxies="127.0.0.1,::1")
    return create_app(load_settings(**values))


async def test_parallel_failures_from_many_addresses_are_all_counted(
    client: TestClient[Any, Any], world: World
) -> None:
    doctor = await world.user("doctor")
    responses = await asyncio.gather(*(
        client.post(TOKEN, headers={"X-Forwarded-For": f"198.51.100.{i}"},
                    json={"username": doctor["username"], "password": f"wrong-guess-{i}"})
        for i in range(1, 41)))
    codes = [r.status for r in responses]
    async with client.app[keys.SESSIONS]() as db:
        row = (await db.exec(select(User).where(User.username == doctor["username"]))).one()
    assert row.failed_logins == codes.count(401)
    assert codes.count(401) >= 5 and set(codes) <= {401, 429}
    # The account waits at most its short backoff, then the right password works.
    while True:
        resp = await client.post(TOKEN, headers={"X-Forwarded-For": "192.0.2.9"},
                                 json={"username": doctor["username"], "password": PASSWORD})
        if resp.status != 429:
            break
        assert int(resp.headers["Retry-After"]) <= 31
        await asyncio.sleep(int(resp.headers["Retry-After"]))
    assert resp.status == 200


async def test_logout_everywhere_on_postgres(client: TestClient[Any, Any], world: World) -> None:
    nurse = await world.user("nurse")
    first, second = await world.token(nurse["username"]), await world.token(nurse["username"])
    assert (await client.post("/api/v1/auth/logout-everywhere", headers=first)).status == 200
    for headers in (first, second):
        assert (await client.get("/api/v1/users/me", headers=headers)).status == 401
