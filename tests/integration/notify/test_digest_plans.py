"""The digest pass reads what is due through ``ix_notifications_due``, not every held
notification (issue #16; `bench/population.py --only digest` times it at 20,000 patients).

A region's shape is seeded (a thousand people with notifications of history and as many
held for tomorrow's summaries, one person's summary due, the accounts of the population),
the planner given its statistics (``ANALYZE``), then the statements of two real passes are
planned again, on SQLite (``EXPLAIN QUERY PLAN``) and PostgreSQL (``EXPLAIN``). (Grouping
the due notifications by owner in SQL, SQLite walked every notification in owner order.)
- making the one summary due, the pass reads its owner from a range of
  ``ix_notifications_due`` (partial: the notifications held and not yet in a summary, by due
  instant) and the owner by primary key, and its taking UPDATE searches by an index too;
- with nothing due, the pass is that one statement, an empty range: no scan of the
  notifications or of the users, however many are held for later.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import insert, text

from telemed import keys
from telemed.db.models import Notification, User
from telemed.db.types import new_id
from telemed.notify import digests
from tests.conftest import World
from tests.helpers.digest import ROME, rome
from tests.helpers.query_plans import captured, plans

Client = TestClient[Any, Any]
MAIL_FROM = "telemed@asl.example"
# each: notifications of history, and held for tomorrow (half the table, spread over many
# owners, as in the population benchmark: SQLite then prefers, where it may, to walk the
# notifications in owner order to grouping the held ones)
PEOPLE, HISTORY, HELD = 1000, 2, 2
ACCOUNTS = 3000  # the population's, with nothing held
# A scan of one of these tables costs the population, not what is due.
POPULATION = re.compile(r"\b(SCAN|Seq Scan on) (notifications|users)\b")


@pytest.fixture
def app(either_app: web.Application) -> web.Application:
    return either_app


def _row(user: User, n: int, at: Any, *, held: bool) -> dict[str, Any]:
    row = Notification(id=new_id(), user_id=user.id, kind="teleconsult_update",
                       title_code="teleconsult_accepted", params={"initials": "M. R."},
                       link="/teleconsults/x", cause_type="teleconsult", cause_id=f"c{n}",
                       created_at=at, dispatched_at=at, read_at=None if held else at)
    if held:
        digests.hold(row, user, at, ROME)  # as the worker's fan-out holds it
    return row.model_dump()


async def _region(app: web.Application) -> None:
    """People who chose the digest (07:30), each with history and news held since this
    morning; the first one's held yesterday evening as well, due this morning. And the
    population's accounts, who wait for nothing."""
    people = [User(username=f"plan{n:04d}", password_hash="x", role="doctor",
                   display_name=f"Plan {n}", email=f"p{n}@asl.example",
                   digest_kinds=["teleconsult_update"]) for n in range(PEOPLE)]
    accounts = [User(username=f"pz{n:05d}", password_hash="x", role="patient",
                     display_name=f"Pz {n}") for n in range(ACCOUNTS)]
    rows = [_row(user, n, rome(-30, 9) + timedelta(hours=n), held=False)
            for user in people for n in range(HISTORY)]
    rows += [_row(user, n, rome(2, 8) + timedelta(minutes=n), held=True)
             for user in people for n in range(HELD)]
    rows.append(_row(people[0], 0, rome(1, 20), held=True))
    async with app[keys.ENGINE].begin() as conn:
        await conn.execute(insert(User), [u.model_dump() for u in people + accounts])
        await conn.execute(insert(Notification), rows)
        await conn.execute(text("ANALYZE"))


def _touches_notifications(planned: list[tuple[str, list[str]]]
                           ) -> list[tuple[str, list[str]]]:
    return [(s, p) for s, p in planned
            if "FROM notifications" in s or s.lstrip().startswith("UPDATE notifications")]


async def test_the_digest_pass_reads_only_what_is_due_by_its_index(
        client: Client, world: World) -> None:
    app = client.app
    await _region(app)
    sessions = app[keys.SESSIONS]

    # 09:00: the one summary of last evening's news is due, tomorrow's are not
    with captured(app, ("SELECT", "UPDATE")) as making:
        assert await digests.make_due(sessions, rome(2, 9), MAIL_FROM) == 1
    with captured(app) as idle:  # then nothing is due
        assert await digests.make_due(sessions, rome(2, 9), MAIL_FROM) == 0

    [(statement, plan)] = await plans(app, idle)
    assert "due_at <=" in statement and "held_at" not in statement
    assert any("ix_notifications_due" in line for line in plan), plan
    assert not any(POPULATION.search(line) for line in plan), "\n".join(plan)
    touching = _touches_notifications(await plans(app, making))
    assert len(touching) == 2, [s for s, _ in touching]  # the owners due, the taking
    for _, plan in touching:
        assert not any(POPULATION.search(line) for line in plan), "\n".join(plan)
        assert any("ix_notifications" in line for line in plan), "\n".join(plan)

    # tomorrow at 07:30 everyone's is due, once
    assert await digests.make_due(sessions, rome(3, 7, 30), MAIL_FROM) == PEOPLE
    assert await digests.make_due(sessions, rome(3, 7, 30), MAIL_FROM) == 0
