"""Charts that show the period asked for: the downsampled series API, the latest values and
the vitals panel's statements, on 30 days of per-minute readings (issue #16, item 5)."""

from __future__ import annotations

import copy
import math
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlmodel import col, select

from telemed import keys
from telemed.db.models import AuditEvent
from telemed.domain.downsample import bucket_width, downsample
from telemed.domain.units import CLINICAL_METRICS, METRICS
from telemed.services.observations import bucketed, latest_values
from telemed.settings import Settings
from tests.conftest import World, fresh_settings
from tests.helpers.pages import log_in
from tests.helpers.seeded import Seed, seed
from tests.integration.readings import (
    DIP,
    SPIKE,
    Wearer,
    check_bucket_edges,
    per_minute,
    statements,
    store,
)

Client = TestClient[Any, Any]


async def _wearer(world: World) -> Wearer:
    return await Wearer().build(world)


@pytest.fixture(scope="module")
def worn(tmp_path_factory: pytest.TempPathFactory) -> Seed[Wearer]:
    """30 days of per-minute readings stored once; each test gets a copy of the database."""
    return seed(tmp_path_factory, _wearer)


@pytest.fixture
def settings(worn: Seed[Wearer], tmp_path: Path,
             tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return fresh_settings(tmp_path, tmp_path_factory, template=worn.database)


@pytest.fixture
def wearer(worn: Seed[Wearer], world: World) -> Wearer:
    """The stored wearer, in this test's app."""
    wearer = copy.copy(worn.data)
    wearer.world = world
    return wearer


async def test_thirty_days_chart_covers_thirty_days_in_a_few_hundred_points(
        client: Client, wearer: Wearer) -> None:
    since = wearer.until - timedelta(days=30)
    doctor = await wearer.world.token(wearer.doctor["username"])
    resp = await client.get(wearer.url(), headers=doctor, params={
        "metric": "spo2,heart_rate", "since": since.isoformat(),
        "until": wearer.until.isoformat()})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    width = body["bucket_seconds"]
    assert [s["metric"] for s in body["series"]] == ["spo2", "heart_rate"]
    for series in body["series"]:
        buckets = series["buckets"]
        assert 100 <= len(buckets) <= 500
        first = datetime.fromisoformat(buckets[0]["t"])
        end = datetime.fromisoformat(buckets[-1]["t"]) + timedelta(seconds=width)
        # The whole period is drawn, not the newest ~17 hours.
        assert first <= since + timedelta(seconds=width) and end >= wearer.until
        assert datetime.fromisoformat(buckets[0]["first"]) == since + timedelta(minutes=1)
        assert datetime.fromisoformat(buckets[-1]["last"]) == wearer.until
        assert sum(b["count"] for b in buckets) == series["count"] == 30 * 1440
        assert series["unit"] in ("%", "/min")
    spo2, heart = body["series"]
    # The one-minute dip and spike are in the series (min/max), never averaged away.
    assert spo2["min"] == DIP and min(b["min"] for b in spo2["buckets"]) == DIP
    assert heart["max"] == SPIKE and max(b["max"] for b in heart["buckets"]) == SPIKE
    dip_bucket = next(b for b in spo2["buckets"] if b["min"] == DIP)
    assert dip_bucket["mean"] > 94  # the mean alone would hide it
    # Without metric=: every clinical metric, those without readings empty.
    every = await (await client.get(wearer.url(), headers=doctor)).json()
    counts = {s["metric"]: s["count"] for s in every["series"]}
    assert set(counts) == set(CLINICAL_METRICS)
    assert counts["spo2"] == counts["heart_rate"] == 1440 and counts["body_temp"] == 0
    # The raw readings stay available in the observations API.
    raw = await client.get(f"/api/v1/patients/{wearer.patient.id}/observations",
                           headers=doctor, params={"metric": "spo2", "limit": "5"})
    newest = (await raw.json())["items"]
    assert len(newest) == 5 and newest[0]["value"] == 95.0 + (30 * 1440 - 1) % 4


async def test_sql_buckets_equal_the_domain_rule(wearer: Wearer) -> None:
    since = wearer.until - timedelta(days=7, minutes=13)
    width = bucket_width(since, wearer.until, 300)
    async with wearer.world.app[keys.SESSIONS]() as session:
        found = await bucketed(session, wearer.patient.id, ["spo2", "heart_rate", "body_temp"],
                               since, wearer.until, width)
    for metric in ("spo2", "heart_rate"):
        expected = downsample([(r["time"], r["value"]) for r in wearer.rows
                               if r["metric"] == metric and since <= r["time"] <= wearer.until],
                              width)
        assert len(found[metric]) == len(expected)
        for got, want in zip(found[metric], expected, strict=True):
            assert (got.start, got.count, got.min, got.max, got.first, got.last) == (
                want.start, want.count, want.min, want.max, want.first, want.last)
            assert math.isclose(got.mean, want.mean)
    assert found["body_temp"] == []


async def test_series_follows_the_observation_access_rules_and_is_audited(
        client: Client, wearer: Wearer) -> None:
    w = wearer.world
    params = {"metric": "spo2"}
    for who, status in ((wearer.doctor, 200), (wearer.patient_user, 200),
                        (wearer.stranger, 403), (wearer.admin, 403)):
        resp = await client.get(wearer.url(), params=params,
                                headers=await w.token(who["username"]))
        assert resp.status == status, (who["role"], await resp.text())
    # Another team's patient, by a doctor of this one.
    resp = await client.get(wearer.url(wearer.other.id), params=params,
                            headers=await w.token(wearer.doctor["username"]))
    assert resp.status == 403
    assert (await client.get(wearer.url(), params=params)).status == 401
    async with w.app[keys.SESSIONS]() as session:
        rows = (await session.exec(
            select(AuditEvent).where(AuditEvent.patient_id == wearer.patient.id)
            .where(AuditEvent.reason_code == "vitals_series").order_by(col(AuditEvent.id)))).all()
    assert [(r.actor_id, r.outcome) for r in rows] == [
        (wearer.doctor["id"], "success"), (wearer.patient_user["id"], "success"),
        (wearer.stranger["id"], "denied")]


@pytest.mark.parametrize(("params", "code"), [
    ({"metric": "", "points": "0"}, "invalid_points"),
    ({"metric": "spo2,nonsense"}, "invalid_metric"),
    ({"metric": "spo2", "since": "yesterday"}, "invalid_since"),
    ({"metric": "spo2", "since": "2026-01-02T00:00:00"}, "invalid_since"),
    ({"metric": "spo2", "since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
     "invalid_since"),
    ({"metric": "spo2", "since": "2020-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
     "invalid_since"),
    ({"metric": "spo2", "points": "5"}, "invalid_points"),
    ({"metric": "spo2", "points": "1e9"}, "invalid_points"),
    ({"metric": ",".join(METRICS)}, "invalid_metric"),  # nine: one too many
])
async def test_bad_series_parameters_are_400(client: Client, world: World,
                                             params: dict[str, str], code: str) -> None:
    doctor = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    resp = await client.get(f"/api/v1/patients/{patient.id}/observations/series",
                            params=params, headers=await world.token(doctor["username"]))
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == code


async def test_latest_values_are_the_newest_of_each_metric(wearer: Wearer) -> None:
    async with wearer.world.app[keys.SESSIONS]() as session:
        latest = await latest_values(session, [wearer.patient.id, wearer.other.id])
    mine = latest[wearer.patient.id]
    assert set(mine) == {"spo2", "heart_rate"}
    assert mine["spo2"].time == mine["heart_rate"].time == wearer.until
    assert mine["spo2"].value == 95.0 + (30 * 1440 - 1) % 4
    assert wearer.other.id not in latest


async def test_vitals_panel_statements_do_not_grow_with_the_readings(
        client: Client, world: World) -> None:
    few = await Wearer().build(world, days=1)
    assert (await log_in(client, few.doctor["username"])).status == 303
    counts = []
    for extra_days in (0, 29):
        if extra_days:  # 29 more days of readings (83,520 rows), then the same page again
            await store(world.app, per_minute(few.patient.id, few.device,
                                              few.until - timedelta(days=1), extra_days))
        with statements(world.app) as seen:
            resp = await client.get(f"/patients/{few.patient.id}", params={"vitals": "30d"})
            assert resp.status == 200
            page = await resp.text()
        counts.append(len(seen))
    assert counts[0] == counts[1]
    # The summary counts them all (one fewer once a minute has passed since the seeding).
    assert re.search(r"43,(200|199) readings", page)
    # Reading the latest values is one statement, whatever the history.
    async with world.app[keys.SESSIONS]() as session, session.begin():
        with statements(world.app) as seen:
            await latest_values(session, [few.patient.id])
    assert len(seen) == 1



async def test_bucket_edges_with_fractions_of_a_second(world: World) -> None:
    await check_bucket_edges(world)
