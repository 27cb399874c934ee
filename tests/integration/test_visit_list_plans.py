"""The visit lists read an index in their order and stop at the page, whatever the population
(issue #16; `bench/population.py --only visits` times them at 20,000 patients).

Every statement the real requests run is captured with its parameters and planned again
(SQLite ``EXPLAIN QUERY PLAN``; without statistics the plan does not depend on how many rows
there are, so a small database shows the plan of a region's):
- a clinician's visit list (``GET /api/v1/visits``, with ``from=`` too), the agenda's day
  and its reports to write (``GET /visits``) and the full list of those (``/visits/reports``)
  take their candidates from a bounded window of ``ix_visit_participants_user_start`` and
  read it in their order: no join and sort of every visit the clinician was ever invited
  to (PostgreSQL's planner chose that when it could), no scan of the visits;
- the patient's FHIR Appointment search starts from its own record (and its delegations),
  by the patient-id index, instead of testing every visit of the region;
- none of them scans a table of the population.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.db.models import Visit, VisitParticipant
from tests.conftest import World
from tests.helpers.pages import logged_in
from tests.helpers.query_plans import captured, plans
from tests.integration.visit_helpers import make_visit

Client = TestClient[Any, Any]
# A scan of one of these tables costs the population, not the page.
POPULATION = re.compile(r"\bSCAN (visits|visit_participants|patients|consents|"
                        r"care_team_members|delegations|documents|teleconsults|bookings)\b")


# The candidates of a page: a window of the clinician's next participant rows, bounded.
WINDOW = re.compile(r"visit_participants\.visit_id IN \(SELECT visit_participants\.visit_id "
                    r"FROM visit_participants WHERE visit_participants\.user_id = \?[^()]*"
                    r"ORDER BY [^()]*LIMIT \?")


def _lists(planned: list[tuple[str, list[str]]]) -> list[tuple[str, list[str]]]:
    """The statements that page visits in time order."""
    return [(s, p) for s, p in planned
            if "FROM visits" in s and re.search(r"ORDER BY \w+\.scheduled_start", s)
            and "LIMIT" in s]


async def _held_visit(world: World, doctor_id: str, patient_id: str) -> None:
    """A visit of two days ago, completed, without a report: one to write."""
    start = datetime.now(UTC) - timedelta(days=2)
    async with world.app[keys.SESSIONS]() as session:
        visit = Visit(kind="televisit", patient_id=patient_id, scheduled_start=start,
                      duration_minutes=30, status="completed", created_by=doctor_id)
        session.add(visit)
        await session.flush()
        session.add(VisitParticipant(visit_id=visit.id, user_id=doctor_id,
                                     scheduled_start=start))
        await session.commit()


async def test_clinician_lists_walk_the_participant_index_in_order(
        client: Client, world: World) -> None:
    setup = await make_visit(world)
    doctor = setup.doctor
    await _held_visit(world, doctor["id"], setup.patient_id)
    bearer = setup.headers[doctor["username"]]
    await logged_in(client, doctor["username"])
    now = datetime.now(UTC).isoformat()

    with captured(client.app) as seen:
        for params in ({"limit": "200"}, {"limit": "200", "from": now}):
            resp = await client.get("/api/v1/visits", params=params, headers=bearer)
            assert resp.status == 200, await resp.text()
            assert len((await resp.json())["items"]) == (2 if "from" not in params else 1)
        agenda = await client.get("/visits")
        assert agenda.status == 200
        assert "data-reports-due" in await agenda.text()
        full = await client.get("/visits/reports")
        assert full.status == 200
        assert (await full.text()).count("/report\">") == 1

    planned = await plans(client.app, seen)
    lists = _lists(planned)
    # the two API pages, the agenda's day and reports to write, the full list of those
    assert len(lists) == 5, [s for s, _ in lists]
    for statement, plan in lists:
        assert WINDOW.search(" ".join(statement.split())), statement
        assert any("ix_visit_participants_user_start" in line for line in plan), (statement, plan)
        assert not any("TEMP B-TREE FOR ORDER BY" in line for line in plan), (statement, plan)
    for statement, plan in planned:
        assert not any(POPULATION.search(line) for line in plan), (statement, plan)


async def test_the_patients_appointments_start_from_their_record(
        client: Client, world: World) -> None:
    setup = await make_visit(world)
    portal = setup.headers[setup.patient_user["username"]]

    with captured(client.app) as seen:
        resp = await client.get("/fhir/R4/Appointment", headers=portal)
        assert resp.status == 200, await resp.text()
        assert [e["resource"]["id"] for e in (await resp.json())["entry"]] == [setup.visit_id]

    planned = await plans(client.app, seen)
    lists = _lists(planned)
    assert len(lists) == 1, [s for s, _ in planned]
    statement, plan = lists[0]
    assert any("ix_visits_patient_id" in line for line in plan), (statement, plan)
    for statement, plan in planned:
        assert not any(POPULATION.search(line) for line in plan), (statement, plan)
