"""A pass's chains read together (`chain_levels_of`) are the chains read one by one."""

from __future__ import annotations

from datetime import timedelta

from telemed import keys
from telemed.db.models import CareTeamMember, OnCallShift, User
from telemed.db.types import utcnow
from telemed.notify.escalation import chain_levels, chain_levels_of
from tests.conftest import World


async def test_batch_chains_equal_the_single_ones(world: World) -> None:
    first, second, nurse, gone = (await world.user("doctor"), await world.user("doctor"),
                                  await world.user("nurse"), await world.user("doctor"))
    oncall = await world.user("nurse")
    teams = [[first, second, nurse], [second, nurse], [nurse], [gone, nurse], []]
    patients = [await world.patient(team=[u["id"] for u in team]) for team in teams]
    now = utcnow()
    async with world.app[keys.SESSIONS]() as session:
        member = await session.get(CareTeamMember, (patients[0].id, second["id"]))
        assert member is not None
        member.responsible = True  # the later-added doctor is the responsible one
        user = await session.get(User, gone["id"])
        assert user is not None
        user.active = False
        session.add(OnCallShift(user_id=oncall["id"], starts_at=now - timedelta(hours=1),
                                ends_at=now + timedelta(hours=1), created_by=first["id"]))
        await session.commit()
    async with world.app[keys.SESSIONS]() as session:
        together = await chain_levels_of(session, [p.id for p in patients], now)
        one_by_one = {p.id: await chain_levels(session, p.id, now) for p in patients}
    assert together == one_by_one
    assert together[patients[0].id][0] == [oncall["id"]]
    assert together[patients[0].id][1] == [second["id"]]
    assert together[patients[3].id][1] == []  # the inactive doctor is nobody's step
