"""The alarm burden on PostgreSQL: the durations computed by the database (epoch arithmetic),
the same figures as on SQLite."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.conftest import World
from tests.integration.notify.clinic import burden_ward

pytestmark = pytest.mark.postgres


@pytest.fixture
def app(postgres_app: web.Application) -> web.Application:
    return postgres_app


async def test_the_same_figures_on_postgresql(client: TestClient[Any, Any], world: World) -> None:
    ward = await burden_ward(world)
    resp = await client.get("/api/v1/alarm-burden?days=7",
                            headers=await ward.headers(ward.doctor))
    assert resp.status == 200, await resp.text()
    team = (await resp.json())["team"]
    assert team["alerts"] == 3 and team["auto_recovered_share"] == 0.333
    assert team["time_to_acknowledge_s"] == {"median": 120.0, "p90": 300.0}
    assert team["time_to_resolve_s"] == {"median": 600.0, "p90": 600.0}
    assert team["escalations"] == 2
