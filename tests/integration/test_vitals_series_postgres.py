"""The downsampled series and the latest values on PostgreSQL (bucket SQL of that engine)."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.domain.downsample import bucket_width, downsample
from telemed.services.observations import bucketed, latest_values
from tests.conftest import World
from tests.integration.readings import DIP, SPIKE, Wearer, check_bucket_edges

pytestmark = pytest.mark.postgres


@pytest.fixture
def app(postgres_app: web.Application) -> web.Application:
    return postgres_app


async def test_buckets_latest_values_and_api_on_postgres(client: TestClient[Any, Any],
                                                         world: World) -> None:
    wearer = await Wearer().build(world, days=8)
    since = wearer.until - timedelta(days=7, minutes=13)
    for points in (300, 1000, 37):
        width = bucket_width(since, wearer.until, points)
        async with world.app[keys.SESSIONS]() as session:
            found = await bucketed(session, wearer.patient.id, ["spo2", "heart_rate"], since,
                                   wearer.until, width)
        for metric in ("spo2", "heart_rate"):
            expected = downsample([(r["time"], r["value"]) for r in wearer.rows
                                   if r["metric"] == metric
                                   and since <= r["time"] <= wearer.until], width)
            assert [(b.start, b.count, b.min, b.max, b.first, b.last) for b in found[metric]] \
                == [(b.start, b.count, b.min, b.max, b.first, b.last) for b in expected]
            assert all(math.isclose(g.mean, e.mean)
                       for g, e in zip(found[metric], expected, strict=True))
    async with world.app[keys.SESSIONS]() as session:
        latest = await latest_values(session, [wearer.patient.id, wearer.other.id])
    assert latest[wearer.patient.id]["spo2"].time == wearer.until
    assert wearer.other.id not in latest
    resp = await client.get(wearer.url(), params={
        "metric": "spo2,heart_rate", "since": (wearer.until - timedelta(days=8)).isoformat(),
        "until": wearer.until.isoformat()}, headers=await world.token(wearer.doctor["username"]))
    assert resp.status == 200, await resp.text()
    spo2, heart = (await resp.json())["series"]
    assert spo2["min"] == DIP and heart["max"] == SPIKE
    assert spo2["count"] == 8 * 1440 and len(spo2["buckets"]) <= 301
    stranger = await client.get(wearer.url(), params={"metric": "spo2"},
                                headers=await world.token(wearer.stranger["username"]))
    assert stranger.status == 403


async def test_bucket_edges_with_fractions_of_a_second_on_postgres(world: World) -> None:
    await check_bucket_edges(world)


async def test_each_charts_newest_readings_come_in_one_statement_on_postgres(
        world: World) -> None:
    """The vitals panel's tables: per chart the newest readings (rows × metrics), newest
    first, as the former one-query-per-chart code gave them."""
    from telemed.services.vitals_panel import recent_by_chart

    wearer = await Wearer().build(world, days=1)
    since = wearer.until - timedelta(hours=6)
    async with world.app[keys.SESSIONS]() as session:
        found = await recent_by_chart(session, wearer.patient.id, ["spo2", "heart_rate", "bp"],
                                      since, 7)
    for key in ("spo2", "heart_rate"):
        expected = sorted((r for r in wearer.rows if r["metric"] == key and r["time"] >= since),
                          key=lambda r: r["time"], reverse=True)[:7]
        assert [(o.metric, o.time) for o in found[key]] == [
            (r["metric"], r["time"]) for r in expected]
    assert found["bp"] == [] and len(found["spo2"]) == 7
