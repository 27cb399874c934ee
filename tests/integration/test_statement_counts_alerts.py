"""The alert paths cost what they show, not what the population is: SQL statements counted.

The same region is built at 10 and at 200 patients (all on one nurse's and one doctor's care
teams, each with an active plan, a reading and an open alert; one in ten withdrew consent,
so the board's "consent withdrawn" marks are exercised). The board page, a row's refresh,
the alert list, the stream's connect and full replay, and one scheduler pass must run the
same number of statements at both sizes (counted with ``before_cursor_execute`` on the app's
engine). Before access by set they grew with every patient (one consent query each, one
audit row per visible patient per connect, one plan lookup per row).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func
from sqlmodel import select

from telemed import keys
from telemed.api import alert_stream
from telemed.db.models import Alert, CarePlan, CareTeamMember, Consent, Device, Observation, Patient
from telemed.db.types import new_id
from telemed.domain.careplans import parse_careplan_content
from telemed.domain.fiscal_code import build_fiscal_code
from telemed.ingest import scheduler
from telemed.services.plan_cache import PlanCache
from tests.conftest import World
from tests.helpers.pages import log_in
from tests.helpers.statements import counting
from tests.integration.sse import next_event

pytestmark = pytest.mark.scale

Client = TestClient[Any, Any]
PLAN = {"monitoring": [{"metric": "spo2", "schedule": {"times": ["08:00", "20:00"],
                                                       "tolerance_minutes": 60}}]}


async def region(world: World, size: int, *, first: int) -> dict[str, Any]:
    """``size`` patients on a nurse's and a doctor's teams, in bulk."""
    nurse = await world.user("nurse")
    doctor = await world.user("doctor")
    now = datetime.now(UTC)
    content = parse_careplan_content(PLAN).to_dict()
    alerts: list[str] = []
    async with world.app[keys.SESSIONS]() as session:
        for n in range(first, first + size):
            given, family = f"Anna{chr(65 + n % 26)}", f"Neri{chr(65 + n // 26 % 26)}"
            birth = datetime(1940 + n % 50, 1 + n % 12, 1 + n % 28).date()
            patient = Patient(fiscal_code=build_fiscal_code(given, family, birth, "F", "Roma"),
                              given_name=given, family_name=family, birth_date=birth, sex="F")
            session.add(patient)
            await session.flush()
            for user in (nurse, doctor):
                session.add(CareTeamMember(patient_id=patient.id, user_id=user["id"],
                                           responsible=user is doctor))
            session.add(Consent(patient_id=patient.id, granted=True, recorded_by=doctor["id"],
                                recorded_at=now - timedelta(days=2)))
            if n % 10 == 3:  # withdrew: the doctor still receives the alerts, marked
                session.add(Consent(patient_id=patient.id, granted=False,
                                    recorded_by=doctor["id"],
                                    recorded_at=now - timedelta(days=1)))
            session.add(CarePlan(plan_id=new_id(), version=1, patient_id=patient.id,
                                 status="active", title="Telemonitoring",
                                 period_start=now.date() - timedelta(days=3), content=content,
                                 created_by=doctor["id"], activated_at=now - timedelta(days=3)))
            device = Device(serial=f"SN-{patient.id}", kind="pulse_oximeter",
                            patient_id=patient.id, last_seen=now - timedelta(hours=n % 30))
            session.add(device)
            await session.flush()
            session.add(Observation(patient_id=patient.id, device_id=device.id, metric="spo2",
                                    value=93, unit="%", time=now - timedelta(hours=1)))
            alert = Alert(patient_id=patient.id, rule_key="threshold:spo2", kind="threshold",
                          metric="spo2", severity="critical" if n % 7 == 0 else "warning",
                          status="open", value=93, detail="SpO2 93 %",
                          opened_at=now - timedelta(minutes=n), seq=n + 1)
            session.add(alert)
            await session.flush()
            alerts.append(alert.id)
        await session.commit()
    return {"nurse": nurse, "doctor": doctor, "alerts": alerts}


Measure = Callable[[World, dict[str, Any]], Awaitable[list[str]]]


async def board_page(world: World, people: dict[str, Any]) -> list[str]:
    client: Client = world.client
    await log_in(client, people["doctor"]["username"])
    with counting(world.app) as statements:
        resp = await client.get("/alerts")
        assert resp.status == 200
        page = await resp.text()
    assert page.count('<li class="alert-card ') == min(len(people["alerts"]), 200)
    assert "Consent withdrawn on" in page or "Consenso revocato" in page
    return statements


async def board_row(world: World, people: dict[str, Any]) -> list[str]:
    client: Client = world.client
    await log_in(client, people["doctor"]["username"])
    wanted = people["alerts"][3]  # a patient who withdrew (n % 10 == 3): the marked row
    with counting(world.app) as statements:
        resp = await client.get("/alerts/rows", params={"id": wanted})
        assert resp.status == 200
        fragment = await resp.text()
    assert f'id="alert-{wanted}"' in fragment
    return statements


async def alert_list(world: World, people: dict[str, Any]) -> list[str]:
    headers = await world.token(people["nurse"]["username"])
    with counting(world.app) as statements:
        resp = await world.client.get("/api/v1/alerts", params={"limit": "200"},
                                      headers=headers)
        assert resp.status == 200
        body = await resp.json()
    # the nurse does not see the patients who withdrew (the doctor is responsible)
    assert len(body["items"]) == min(200, len([i for i in range(len(people["alerts"]))
                                              if i % 10 != 3]))
    return statements


async def stream_replay(world: World, people: dict[str, Any]) -> list[str]:
    headers = await world.token(people["doctor"]["username"])
    with counting(world.app) as statements:
        resp = await world.client.get("/api/v1/alerts/stream", headers=headers)
        assert resp.status == 200
        seen = {(await next_event(resp)).data["id"] for _ in people["alerts"]}
        resp.close()
    assert seen == set(people["alerts"])  # every open alert, not the first 500
    return statements


async def scheduler_pass(world: World, cache: PlanCache) -> list[str]:
    app = world.app
    with counting(app) as statements:
        await scheduler.run_once(app[keys.SESSIONS], app[keys.BUS], cache)
    return statements


@pytest.mark.parametrize("measure", [board_page, board_row, alert_list, stream_replay],
                         ids=lambda m: m.__name__)
async def test_statements_do_not_grow_with_the_patients(measure: Measure, world: World,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # The stream's replay starts with a short page, then pages of 500: a first page shorter
    # than either region's alerts gives both the same two pages.
    monkeypatch.setattr(alert_stream, "REPLAY_FIRST_PAGE", 5)
    small = await measure(world, await region(world, 10, first=0))
    # Twenty times the patients, on other people's teams (the first region stays in the
    # database: the population grows too).
    big = await measure(world, await region(world, 200, first=10))
    assert len(big) <= len(small), (len(small), len(big), big[:40])


async def test_a_scheduler_pass_does_not_grow_with_the_patients(world: World) -> None:
    """Devices silent for 0..29 hours (some past the default limit), schedules twice a day:
    the first pass opens what is due; the next passes, with nothing newly due, cost the same
    at 10 and at 210 patients, as the scheduler runs them (one cache across passes)."""
    cache = PlanCache()
    await region(world, 10, first=0)
    await scheduler_pass(world, cache)
    small = await scheduler_pass(world, cache)
    await region(world, 200, first=10)
    await scheduler_pass(world, cache)
    big = await scheduler_pass(world, cache)
    assert len(big) <= len(small), (len(small), len(big), big[:40])
    async with world.app[keys.SESSIONS]() as session:
        silent = (await session.exec(select(func.count()).select_from(Alert)
                                     .where(Alert.kind == "device_silent"))).one()
    assert silent > 0  # the first passes did open what was due
