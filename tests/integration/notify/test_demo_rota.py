"""The demo region has an on-call rota: somebody covers every hour of the coming week."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlmodel import select

from telemed import keys
from telemed.db.models import OnCallShift, User
from telemed.demo import seed_region
from telemed.notify.oncall import on_call_at
from tests.conftest import World


async def test_demo_rota_covers_the_week_and_seeding_twice_adds_nothing(
        client: TestClient[Any, Any], world: World) -> None:
    async with world.app[keys.SESSIONS]() as session:
        await seed_region(session)
    async with world.app[keys.SESSIONS]() as session:
        first = len((await session.exec(select(OnCallShift))).all())
        await seed_region(session)
    async with world.app[keys.SESSIONS]() as session:
        shifts = (await session.exec(select(OnCallShift))).all()
        assert len(shifts) == first > 0
        now = datetime.now(UTC)
        for hour in range(0, 7 * 24, 3):
            assert await on_call_at(session, now + timedelta(hours=hour)), hour
        by_user: dict[str, list[OnCallShift]] = {}
        for s in shifts:
            by_user.setdefault(s.user_id, []).append(s)
        for own in by_user.values():  # no overlapping shifts of one person
            own.sort(key=lambda s: s.starts_at)
            assert all(a.ends_at <= b.starts_at for a, b in itertools.pairwise(own))
        doctors = (await session.exec(select(User).where(User.role == "doctor"))).all()
        assert all(d.email and d.email.endswith("@asl-demo.example") for d in doctors)
