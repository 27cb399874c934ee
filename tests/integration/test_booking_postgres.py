"""Booking on PostgreSQL: parallel bookings of one slot, exactly one wins."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlmodel import select

from telemed import keys
from telemed.db.models import Booking, Visit
from tests.conftest import World
from tests.helpers.booking import open_clinic, patient_user, race, second_booking_refused, slots

pytestmark = pytest.mark.postgres


@pytest.fixture
def app(postgres_app: web.Application) -> web.Application:
    return postgres_app


async def test_parallel_bookings_of_one_slot_one_wins(client: TestClient[Any, Any],
                                                      world: World, app: Any) -> None:
    clinic = await open_clinic(world)
    people = [await patient_user(world, clinic) for _ in range(8)]
    free = await slots(client, clinic, clinic.headers[people[0]["username"]])
    for slot in free[:3]:  # three rounds, each a fresh slot
        results = await race(client, slot["id"], [clinic.headers[p["username"]] for p in people])
        assert sorted(s for s, _ in results) == [201] + [409] * 7, results
        assert {b["error"]["code"] for s, b in results if s == 409} == {"slot_taken"}
    async with app[keys.SESSIONS]() as session:
        assert len((await session.exec(select(Booking))).all()) == 3
        assert len((await session.exec(select(Visit))).all()) == 3
    await _one_booking_left(app)


async def _one_booking_left(app: Any) -> None:
    async with app[keys.SESSIONS]() as session:
        rows = (await session.exec(select(Booking))).all()
        for row in rows[1:]:
            await session.delete(row)
        await session.commit()
    assert await second_booking_refused(app)
