"""The patient lists cost what the page shows, not what the population is.

The SQL statements of the `/patients` page (first page, search, next page), of
`GET /api/v1/patients` and of `GET /fhir/R4/Patient` are counted on the app's engine
(`before_cursor_execute`) in a region of 10 patients and in one of 200: the counts must be
the same, and no statement may carry more bound values in the larger region (no list of
patient ids travels to the database). Not a timing test: it fails on the loop, not on a slow
machine.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import event

from telemed import keys
from telemed.db.models import CareTeamMember, Consent, Patient
from telemed.db.types import utcnow
from telemed.domain.fiscal_code import build_fiscal_code
from tests.conftest import World
from tests.helpers.pages import logged_in

pytestmark = pytest.mark.scale

Client = TestClient[Any, Any]
FAMILIES = ["Rossi", "Bianchi", "Esposito", "Colombo", "Ricci", "Marino", "Greco", "Bruno"]
GIVEN = ["Mario", "Lucia", "Nicolò", "Anna", "Giuseppe", "Rosa", "Andrea", "Chiara"]


@dataclass
class Statements:
    """Statements run on the engine while counting, and the most bound values any single
    (not executemany) statement carried."""

    count: int = 0
    widest: int = 0
    texts: list[str] = field(default_factory=list)


@contextmanager
def counting(app: web.Application) -> Iterator[Statements]:
    seen = Statements()
    engine = app[keys.ENGINE].sync_engine

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
               executemany: bool) -> None:
        seen.count += 1
        seen.texts.append(statement.split("\n", 1)[0][:120])
        if not executemany and parameters is not None:
            seen.widest = max(seen.widest, len(parameters))

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


async def _region(app: web.Application, doctor_id: str, other_id: str,
                  numbers: range) -> None:
    """Patients numbered `numbers` on the doctor's team (one in ten withdrew consent later),
    and as many on another doctor's team only."""
    start = utcnow() - timedelta(days=10)
    async with app[keys.SESSIONS]() as session:
        for n in numbers:
            for team in (doctor_id, other_id):
                given, family = GIVEN[n % len(GIVEN)], FAMILIES[n % len(FAMILIES)]
                birth = date(1940 + n % 50, 1 + n % 12, 1 + n % 28)
                code = build_fiscal_code(given, family, birth, "M", "Roma")
                patient = Patient(fiscal_code=f"{code[:11]}{n:04d}{'AB'[team == other_id]}",
                                  given_name=given, family_name=f"{family} {n:03d}",
                                  birth_date=birth, sex="M")
                session.add(patient)
                await session.flush()
                session.add(CareTeamMember(patient_id=patient.id, user_id=team,
                                           responsible=True))
                session.add(Consent(patient_id=patient.id, granted=True, recorded_by=team,
                                    recorded_at=start))
                if n % 10 == 3:
                    session.add(Consent(patient_id=patient.id, granted=False,
                                        recorded_by=team, recorded_at=start + timedelta(days=1)))
        await session.commit()


@dataclass(frozen=True)
class Measure:
    statements: dict[str, int]
    widest: dict[str, int]
    rows: dict[str, int]


async def _measure(client: Client, bearer: dict[str, str]) -> Measure:
    statements: dict[str, int] = {}
    widest: dict[str, int] = {}
    rows: dict[str, int] = {}

    async def run(name: str, path: str, headers: dict[str, str] | None = None) -> Any:
        with counting(client.app) as seen:
            resp = await client.get(path, headers=headers)
            assert resp.status == 200, (name, await resp.text())
            body = await resp.json() if headers else await resp.text()
        statements[name], widest[name] = seen.count, seen.widest
        return body

    page = await run("page", "/patients")
    rows["page"] = page.count('<th scope="row">')
    rows["withdrawn"] = page.count('<li data-patient-id=')
    cursor = re.search(r'href="/patients\?cursor=([^"]+)"', page)
    if cursor:  # only the larger region has a second page
        await run("page 2", f"/patients?cursor={cursor[1]}")
    found = await run("search", "/patients?q=nicol%C3%B2")  # folded: Nicolò
    rows["search"] = found.count('<th scope="row">')
    first = await run("api", "/api/v1/patients?limit=200", bearer)
    rows["api"] = len(first["items"])
    paged = await run("api 50", "/api/v1/patients?limit=50", bearer)
    if paged["next_cursor"]:  # only the larger region has a second page
        await run("api 50 next", f"/api/v1/patients?limit=50&cursor={paged['next_cursor']}",
                  bearer)
    searched = await run("api search", "/api/v1/patients?limit=200&q=ROSSI", bearer)
    rows["api search"] = len(searched["items"])
    bundle = await run("fhir", "/fhir/R4/Patient?_count=100", bearer)
    rows["fhir"] = len(bundle.get("entry", []))
    # A page that does not hold every match counts them (up to a cap): in both regions.
    bundle = await run("fhir 5", "/fhir/R4/Patient?_count=5", bearer)
    rows["fhir 5"] = len(bundle.get("entry", []))
    return Measure(statements, widest, rows)


def _expected(size: int) -> dict[str, int]:
    consented = [n for n in range(size) if n % 10 != 3]
    return {
        "page": min(len(consented), 50),
        "withdrawn": min(size - len(consented), 20),
        "search": min(len([n for n in consented if n % len(GIVEN) == 2]), 50),
        "api": min(len(consented), 200),
        "api search": len([n for n in consented if n % len(FAMILIES) == 0]),
        "fhir": min(len(consented), 100),
        "fhir 5": 5,
    }


async def test_statements_do_not_grow_with_the_patients(client: Client, world: World) -> None:
    doctor = await world.user("doctor")
    other = await world.user("doctor")
    bearer = await world.token(doctor["username"])
    await logged_in(client, doctor["username"])

    await _region(client.app, doctor["id"], other["id"], range(10))
    small = await _measure(client, bearer)
    assert small.rows == _expected(10)

    await _region(client.app, doctor["id"], other["id"], range(10, 200))
    large = await _measure(client, bearer)
    assert large.rows == _expected(200)

    # In the small region one FHIR page holds every match: no count is needed there.
    assert small.statements["fhir"] == small.statements["fhir 5"] - 1
    small.statements["fhir"] = small.statements["fhir 5"]
    assert {name: large.statements[name] for name in small.statements} == small.statements
    # The next page costs what the first does.
    assert large.statements["page 2"] <= large.statements["page"]
    assert large.statements["api 50 next"] <= large.statements["api 50"]
    # No statement carries a list of ids: the widest one is as wide in both regions.
    assert {name: large.widest[name] for name in small.widest} == small.widest
