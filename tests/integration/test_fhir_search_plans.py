"""A clinician's FHIR searches without ``patient=`` cost the page on PostgreSQL, not the
care team (`bench/population.py --only fhir --plans` has the figures at 20,000 patients).

Each search lists the rows of every patient the clinician may see (`services.scope.visible`).
Given the plain statement, PostgreSQL read the doctor's whole care team into a hash on the
page's statement and again on the total's (3,000 rows here, 20,000 in a region), and, for
care plans, documents and questionnaire responses, tested the access rules on every row
before sorting them. Now the page and the capped total test the rules on windows of the rows
in order (`services.fhir_rows.find`, ``windowed``), read by the index of that order (0029
added the last three) and each joined by its key: the table's and the care team's rows read
are the window's. Each resource's search is run through the real app (`EXPLAIN ANALYZE` of
the statements it ran), and its pages and total are those of the plain query (a colleague
who sees one patient in twenty reads larger windows, and has a total under the cap).

The Appointment search is held by `test_visit_list_plans.py`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from sqlmodel import select

from telemed import keys
from telemed.api.fhir.handlers import SPECS
from telemed.api.fhir.spec import ResourceSpec
from telemed.db.models import (
    Alert,
    CarePlan,
    Device,
    Document,
    Observation,
    QuestionnaireResponse,
)
from telemed.db.types import utcnow
from telemed.services.fhir_rows import TOTAL_CAP, WINDOW
from tests.conftest import World
from tests.helpers.plans import DIARY_PLAN
from tests.helpers.query_plans import analyzed, captured, rows_read
from tests.helpers.region import REGION, Records, Rows, seed_region, team_of

pytestmark = pytest.mark.postgres

NOW = utcnow()
ANSWERS = {"breathlessness": 1, "orthopnoea": 0, "ankle_swelling": 1, "fatigue": 1}


def _no_rows(patient_id: str, n: int, owner: str) -> Rows:
    return {}  # the patients are the rows


def _readings(patient_id: str, n: int, owner: str) -> Rows:
    device = Device(serial=f"RGN-{n:07d}", kind="pulse_oximeter", patient_id=patient_id)
    return {Device: [device.model_dump()],
            Observation: [Observation(patient_id=patient_id, device_id=device.id,
                                      metric="spo2", value=96.0, unit="%",
                                      time=NOW - timedelta(minutes=n)).model_dump(
                                          exclude={"id"})]}


def _alerts(patient_id: str, n: int, owner: str) -> Rows:
    return {Alert: [Alert(patient_id=patient_id, rule_key="threshold:spo2", kind="threshold",
                          metric="spo2", severity="warning", detail="SpO2 90 %",
                          opened_at=NOW - timedelta(minutes=n)).model_dump()]}


def _plans(patient_id: str, n: int, owner: str) -> Rows:
    return {CarePlan: [CarePlan(plan_id=f"plan{n:07d}", version=1, patient_id=patient_id,
                                status="active", title="Scompenso cardiaco",
                                period_start=(NOW - timedelta(days=n % 400)).date(),
                                content=DIARY_PLAN, created_by=owner).model_dump()]}


def _documents(patient_id: str, n: int, owner: str) -> Rows:
    signed = NOW - timedelta(minutes=n)
    return {Document: [Document(patient_id=patient_id, kind="televisit_report",
                                title="Referto di televisita", status="signed",
                                author_id=owner, signed_at=signed, signed_by=owner,
                                bundle="{}").model_dump()]}


def _responses(patient_id: str, n: int, owner: str) -> Rows:
    return {QuestionnaireResponse: [QuestionnaireResponse(
        patient_id=patient_id, questionnaire="hf_diary", answers=ANSWERS, score=3,
        band="watch", entered_by=owner, authored_at=NOW - timedelta(minutes=n)).model_dump()]}


RECORDS: dict[str, Records] = {
    "Patient": _no_rows, "Observation": _readings, "Flag": _alerts, "CarePlan": _plans,
    "DocumentReference": _documents, "QuestionnaireResponse": _responses,
}
EVERY = 20  # the colleague's patients: one in twenty of the region (157, under the cap)


async def _search(world: World, username: str, params: dict[str, str],
                  spec: ResourceSpec) -> list[dict[str, Any]]:
    """The bundles of a search of `spec` by `username`, its first two pages."""
    bearer = await world.token(username)
    bundles = []
    url = f"/fhir/R4/{spec.type}"
    while url and len(bundles) < 2:
        resp = await world.client.get(url, params=params if not bundles else None,
                                      headers=bearer)
        assert resp.status == 200, await resp.text()
        bundles.append(await resp.json(content_type=None))
        follow = next((link["url"] for link in bundles[-1]["link"]
                       if link["relation"] == "next"), "")
        url = follow[follow.index("/fhir/"):] if follow else ""
    return bundles


async def _plain(app: web.Application, spec: ResourceSpec, patients: set[str]) -> list[str]:
    """The ids of every match among `patients`, in the search's order: the plain query."""
    table = spec.table
    async with app[keys.SESSIONS]() as session:
        rows = (await session.exec(
            select(table.model).where(*table.base, table.patient.in_(patients))
            .order_by(*(c.desc() if table.descending else c.asc() for c in table.order))
        )).all()
        return [entry.resource["id"] for entry in await spec.render(session, rows)]


def _ids(bundles: list[dict[str, Any]]) -> list[str]:
    return [e["resource"]["id"] for bundle in bundles for e in bundle.get("entry", [])]


@pytest.mark.parametrize("kind", list(RECORDS))
async def test_clinician_search_reads_the_page_on_postgres(
        postgres_world: World, kind: str) -> None:
    world, app = postgres_world, postgres_world.app
    spec = next(s for s in SPECS if s.type == kind)
    name = spec.table.model.__tablename__
    doctor, colleague = await world.user("doctor"), await world.user("doctor")
    await seed_region(app, doctor["id"], colleague["id"], RECORDS[kind], every=EVERY)

    with captured(app) as seen:
        bundles = await _search(world, doctor["username"], {"_count": "100"}, spec)
    assert [len(b["entry"]) for b in bundles] == [100, 100]
    assert all("total" not in b for b in bundles)  # past the count's cap
    mine = await _plain(app, spec, await team_of(app, doctor["id"]))
    assert len(mine) == REGION and _ids(bundles) == mine[:200]

    planned = await analyzed(app, [(s, p) for s, p in seen if f"FROM {name}" in s])
    # each page and its total, counted up to the cap: one window each, no more statements
    assert len(planned) == 4, [s for s, _ in planned]
    cap = WINDOW * (TOTAL_CAP + 1)  # the count's window, the largest
    for statement, nodes in planned:
        # the care team's rows of the window only, each by its key: before, the doctor's
        # whole team (3,000 rows) was read into a hash on every statement
        assert rows_read(nodes, "care_team_members") <= cap < REGION // 2, statement
        assert rows_read(nodes, "consents") <= cap, statement
        # the window read by the order's index and joined back by the key: the table's rows
        # of the window only (before migration 0029, care plans, documents and questionnaire
        # responses had no index in their order: the page's window sorted the whole table)
        assert rows_read(nodes, name) <= 2 * cap < REGION, statement

    # One patient in twenty is the colleague's: larger windows, the page and the total of
    # the plain query (the total under the cap, counted on windows too).
    theirs = await _plain(app, spec, await team_of(app, colleague["id"]))
    listed = await _search(world, colleague["username"], {"_count": "100"}, spec)
    assert _ids(listed) == theirs and len(theirs) == REGION // (EVERY - 1)
    assert [b.get("total") for b in listed] == [len(theirs)] * 2


SMALL = 200  # a small practice: PostgreSQL scans a table this small rather than its index


async def test_clinician_search_reads_each_consent_once_on_a_small_postgres(
        postgres_world: World) -> None:
    """On a small population the access rules read the consents of the rows tested, not
    the table per row: as scalar subqueries (the decision in force, four of them per row)
    PostgreSQL scanned the 200-row table for each row tested (120,000 rows per statement);
    as ``EXISTS`` it joins them (`services.scope.consultable`)."""
    world, app = postgres_world, postgres_world.app
    spec = next(s for s in SPECS if s.type == "Patient")
    doctor, colleague = await world.user("doctor"), await world.user("doctor")
    await seed_region(app, doctor["id"], colleague["id"], _no_rows, every=EVERY, size=SMALL)

    with captured(app) as seen:
        bundles = await _search(world, doctor["username"], {"_count": "100"}, spec)
    mine = await _plain(app, spec, await team_of(app, doctor["id"]))
    assert _ids(bundles) == mine[:200] and len(mine) > 100

    planned = await analyzed(app, [(s, p) for s, p in seen if "FROM consents" in s])
    assert planned
    for statement, nodes in planned:
        assert rows_read(nodes, "consents") <= 2 * SMALL, statement
