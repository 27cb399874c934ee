"""The visit lists read an index in their order and stop at the page, whatever the population
(issue #16; `bench/population.py --only visits` times them at 20,000 patients).

Every statement the real requests run is captured with its parameters and planned again:
- a clinician's visit list (``GET /api/v1/visits``, with ``from=`` too), the agenda's day
  and its reports to write (``GET /visits``) and the full list of those (``/visits/reports``)
  take their candidates from a bounded window of ``ix_visit_participants_user_start`` and
  read it in their order (`services.visits.invited_page`), each visit by its key: no join
  and sort of every visit the clinician was ever invited to, no scan of the visits.
  SQLite (``EXPLAIN QUERY PLAN``; without statistics the plan does not depend on how many
  rows there are, so a small database shows the plan of a region's) walks the clinician's
  participant rows in the index's order from the span's start to the window's last start
  (it walked them from the first); PostgreSQL (``EXPLAIN ANALYZE`` after ``ANALYZE``, a
  clinician with thousands of visits) reads the window, joined as a derived table, in its
  order: no sequential read of the visits or of the participant rows (given the window as
  ``visit_id IN (…)`` it read them all to match them with it), rows read within the window;
- the patient's FHIR Appointment search starts from its own record (and its delegations),
  by the patient-id index, instead of testing every visit of the region;
- a clinician's FHIR Appointment search without ``patient=`` on PostgreSQL (``EXPLAIN
  ANALYZE``, a doctor on 3,000 care teams) tests the care team on a window of the visits in
  its order (`services.fhir_rows.find`, ``windowed``), each row by its key: it read the
  doctor's whole team into a hash on every statement (the page's and the total's);
- none of them scans a table of the population.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import insert
from sqlmodel import col, select

from telemed import keys
from telemed.db.models import Visit, VisitParticipant
from telemed.services.fhir_rows import TOTAL_CAP
from telemed.services.fhir_rows import WINDOW as FHIR_WINDOW
from telemed.services.visits import WINDOW as WINDOW_PAGES
from tests.conftest import World
from tests.helpers.pages import logged_in
from tests.helpers.query_plans import analyzed, captured, plans, rows_read
from tests.helpers.region import REGION, Rows, analyze, seed_region, team_of
from tests.integration.visit_helpers import make_visit

Client = TestClient[Any, Any]
# A scan of one of these tables costs the population, not the page.
POPULATION = re.compile(r"\bSCAN (visits|visit_participants|patients|consents|"
                        r"care_team_members|delegations|documents|teleconsults|bookings)\b")


# The candidates of a page: a window of the clinician's next participant rows, bounded.
WINDOW = re.compile(r"visit_participants\.visit_id IN \(SELECT visit_participants\.visit_id "
                    r"FROM visit_participants WHERE visit_participants\.user_id = \?[^()]*"
                    r"ORDER BY [^()]*LIMIT \?")
# SQLite's walk of the clinician's participant rows: a range of the index, to the window's end.
WALK = re.compile(r"^SEARCH visit_participants USING COVERING INDEX "
                  r"ix_visit_participants_user_start \(user_id=\? AND scheduled_start[<>]\?")


def _pages_visits(statement: str) -> bool:
    """Whether the statement pages visits in time order."""
    return ("FROM visits" in statement and "LIMIT" in statement
            and re.search(r"ORDER BY \w+\.scheduled_start", statement) is not None)


def _lists(planned: list[tuple[str, list[str]]]) -> list[tuple[str, list[str]]]:
    """The statements that page visits in time order."""
    return [(s, p) for s, p in planned if _pages_visits(s)]


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


async def _clinician_lists(client: Client, bearer: dict[str, str], items: tuple[int, int],
                           reports: int) -> None:
    """The clinician's lists through the real app (the API with `bearer`, the pages with the
    session logged in): the API's first page without and with ``from=now`` (`items`), the
    agenda, then /visits/reports (`reports` to write)."""
    now = datetime.now(UTC).isoformat()
    for params, count in zip(({"limit": "200"}, {"limit": "200", "from": now}), items,
                             strict=True):
        resp = await client.get("/api/v1/visits", params=params, headers=bearer)
        assert resp.status == 200, await resp.text()
        assert len((await resp.json())["items"]) == count
    agenda = await client.get("/visits")
    assert agenda.status == 200
    assert "data-reports-due" in await agenda.text()
    full = await client.get("/visits/reports")
    assert full.status == 200
    assert (await full.text()).count("/report\">") == reports


async def test_clinician_lists_walk_the_participant_index_in_order(
        client: Client, world: World) -> None:
    setup = await make_visit(world)
    doctor = setup.doctor
    await _held_visit(world, doctor["id"], setup.patient_id)
    bearer = setup.headers[doctor["username"]]
    await logged_in(client, doctor["username"])

    with captured(client.app) as seen:
        await _clinician_lists(client, bearer, items=(2, 1), reports=1)

    planned = await plans(client.app, seen)
    lists = _lists(planned)
    # the two API pages, the agenda's day and reports to write, the full list of those
    assert len(lists) == 5, [s for s, _ in lists]
    for statement, plan in lists:
        assert WINDOW.search(" ".join(statement.split())), statement
        assert any("ix_visit_participants_user_start" in line for line in plan), (statement, plan)
        assert not any("TEMP B-TREE FOR ORDER BY" in line for line in plan), (statement, plan)
        assert WALK.search(plan[0]), (statement, plan)  # the outer loop, bounded
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


CROWD = 4_000  # a clinician's visits over two years: a few a day


async def _crowd(app: web.Application, doctor_id: str, colleague_id: str,
                 patient_id: str) -> None:
    """`CROWD` visits of the patient from two years ago to 100 days ahead (completed before
    now, scheduled after), each with the doctor's participant row and every other one with a
    colleague's too; then fresh planner statistics."""
    now = datetime.now(UTC)
    first, step = now - timedelta(days=700), timedelta(days=800) / CROWD
    visits, people = [], []
    for k in range(CROWD):
        start = first + k * step
        visit = Visit(kind="televisit", patient_id=patient_id, scheduled_start=start,
                      duration_minutes=30, created_by=doctor_id,
                      status="completed" if start < now else "scheduled")
        visits.append(visit.model_dump())
        people += [{"visit_id": visit.id, "user_id": user_id, "scheduled_start": start}
                   for user_id in ((doctor_id, colleague_id) if k % 2 else (doctor_id,))]
    async with app[keys.ENGINE].begin() as conn:
        await conn.execute(insert(Visit), visits)
        await conn.execute(insert(VisitParticipant), people)
    await analyze(app)


@pytest.mark.postgres
async def test_clinician_lists_drive_from_the_window_on_postgres(postgres_world: World) -> None:
    world, client, postgres_app = postgres_world, postgres_world.client, postgres_world.app
    setup = await make_visit(world)
    doctor, colleague = setup.doctor, await world.user("doctor")
    await _crowd(postgres_app, doctor["id"], colleague["id"], setup.patient_id)
    bearer = setup.headers[doctor["username"]]
    await logged_in(client, doctor["username"])

    with captured(postgres_app) as seen:
        await _clinician_lists(client, bearer, items=(200, 200), reports=50)

    planned = await analyzed(postgres_app, [(s, p) for s, p in seen if _pages_visits(s)])
    # the two API pages, the agenda's day, its reports to write and their count, a full page
    assert len(planned) == 6, [s for s, _ in planned]
    window = WINDOW_PAGES * 200  # the largest window: twice the largest page
    for statement, nodes in planned:
        scans = {(n["Node Type"], n.get("Relation Name")) for n in nodes}
        assert ("Seq Scan", "visits") not in scans, (statement, scans)
        assert ("Seq Scan", "visit_participants") not in scans, (statement, scans)
        assert any(n.get("Index Name") == "ix_visit_participants_user_start" for n in nodes)
        # each visit of the window read by its key; of the participant rows, the window (or
        # a short span of them, when sorting it is cheaper than walking the index in order)
        assert rows_read(nodes, "visits") <= window, statement
        assert rows_read(nodes, "visit_participants") <= CROWD // 4, statement


async def _region(app: web.Application, doctor_id: str, colleague_id: str) -> int:
    """The region (`seed_region`: the doctor's care team, one patient in five more on the
    colleague's): two visits of each patient over 90 days, newest first alternating (four
    of the doctor's patients, one of the colleague's), none with participant rows (the care
    team sees them, nobody is invited). The doctor's visits are returned."""
    now = datetime.now(UTC)

    def visits(patient_id: str, n: int, owner: str) -> Rows:
        return {Visit: [Visit(kind="televisit", patient_id=patient_id, duration_minutes=30,
                              scheduled_start=now - timedelta(days=60,
                                                              minutes=-(n * 2 + k) * 17),
                              created_by=owner).model_dump() for k in range(2)]}

    await seed_region(app, doctor_id, colleague_id, visits)
    return 2 * REGION


@pytest.mark.postgres
async def test_clinician_appointment_search_reads_the_page_on_postgres(
        postgres_world: World) -> None:
    world, client, postgres_app = postgres_world, postgres_world.client, postgres_world.app
    doctor, colleague = await world.user("doctor"), await world.user("doctor")
    mine = await _region(postgres_app, doctor["id"], colleague["id"])
    bearer = await world.token(doctor["username"])

    with captured(postgres_app) as seen:
        first = await client.get("/fhir/R4/Appointment", params={"_count": "100"},
                                 headers=bearer)
        assert first.status == 200, await first.text()
        bundle = await first.json(content_type=None)
        assert len(bundle["entry"]) == 100 and "total" not in bundle  # past the count's cap
        follow = next(link["url"] for link in bundle["link"] if link["relation"] == "next")
        second = await client.get(follow[follow.index("/fhir/"):], headers=bearer)
        assert second.status == 200
        following = await second.json(content_type=None)
    entries = bundle["entry"] + following["entry"]
    starts = [e["resource"]["start"] for e in entries]
    assert starts == sorted(starts, reverse=True) and len(set(starts)) == 200
    assert {e["resource"]["participant"][0]["actor"]["reference"] for e in entries} <= {
        f"Patient/{p}" for p in await team_of(postgres_app, doctor["id"])}

    planned = await analyzed(postgres_app, [(s, p) for s, p in seen if "FROM visits" in s])
    # each page and its total, counted up to the cap: one window each, no more statements
    assert len(planned) == 4, [s for s, _ in planned]
    cap = FHIR_WINDOW * (TOTAL_CAP + 1)  # the count's window, the largest
    for statement, nodes in planned:
        # the care team's rows of the window only, each by its key: before, the doctor's
        # whole team (3,000 rows) was read into a hash on every statement
        assert rows_read(nodes, "care_team_members") <= cap < mine // 2, statement
        assert rows_read(nodes, "visits") <= 2 * cap, statement
        scans = {(n["Node Type"], n.get("Relation Name")) for n in nodes}
        assert ("Seq Scan", "visits") not in scans, (statement, scans)

    # The colleague sees one visit in five: larger windows, the same page as the plain query.
    theirs = await _newest_visits(postgres_app, await team_of(postgres_app, colleague["id"]))
    their_bearer = await world.token(colleague["username"])
    resp = await client.get("/fhir/R4/Appointment", headers=their_bearer,
                            params={"_count": "100", "_total": "accurate"})
    assert resp.status == 200
    listed = await resp.json(content_type=None)
    assert [e["resource"]["id"] for e in listed["entry"]] == theirs[:100]
    assert listed["total"] == len(theirs) == mine // 4


async def _newest_visits(app: web.Application, patients: set[str]) -> list[str]:
    async with app[keys.SESSIONS]() as session:
        found = await session.exec(
            select(Visit.id).where(col(Visit.patient_id).in_(patients))
            .order_by(col(Visit.scheduled_start).desc(), col(Visit.id).desc()))
        return list(found.all())
