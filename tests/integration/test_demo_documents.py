"""The demo region's completed care plan: a month recorded through the services, then the
plan completed, which drafts the final report from the data for the family doctor to sign;
and a televisit held yesterday waiting for its referto. Seeding twice adds nothing."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlmodel import select

from telemed import keys
from telemed.db.models import CarePlan, Document, User, Visit
from telemed.demo import COMPLETED_PLAN, PATIENTS, seed_region
from telemed.demo_documents import seed_completed_plan, seed_held_visit
from tests.conftest import World


async def test_demo_completed_plan_has_its_final_report_drafted(
        client: TestClient[Any, Any], world: World) -> None:
    async with world.app[keys.SESSIONS]() as session:
        await seed_region(session)
        report_id = await seed_completed_plan(session, COMPLETED_PLAN, "rosa.marino")
        await seed_held_visit(session, PATIENTS[0].family)
    assert report_id is not None
    async with world.app[keys.SESSIONS]() as session:
        doc = await session.get(Document, report_id)
        assert doc is not None and doc.kind == "monitoring_final_report"
        assert doc.status == "draft"
        doctor = (await session.exec(select(User).where(User.username == "dr.bianchi"))).one()
        assert doc.author_id == doctor.id
        plan = (await session.exec(select(CarePlan).where(
            CarePlan.plan_id == doc.careplan_id, CarePlan.is_current == True))).one()  # noqa: E712
        assert plan.status == "completed"
        figures = doc.figures or {}
        assert 0.7 < figures["adherence"] < 1.0
        spo2 = next(m for m in figures["metrics"] if m["metric"] == "spo2")
        assert spo2["min"] == 87.0 and spo2["count"] > 40
        assert len(figures["alerts"]) == 3
        assert all(a["status"] == "resolved" and a["minutes_to_handle"] for a in
                   figures["alerts"])
        by_code = {q["code"]: q for q in figures["questionnaires"]}
        assert by_code["phq9"]["count"] == 3 and by_code["phq9"]["trend"] == "better"
        assert by_code["copd_diary"]["max"] >= 2 and by_code["copd_diary"]["last"]["score"] == 0
        assert set(doc.sections) == {"adherence", "readings", "alerts", "questionnaires"}
        held = (await session.exec(select(Visit).where(Visit.status == "completed"))).all()
        assert len(held) == 1
        # again: the plan is completed, the visit held; nothing is added
        assert await seed_completed_plan(session, COMPLETED_PLAN, "rosa.marino") is None
        await seed_held_visit(session, PATIENTS[0].family)
        assert len((await session.exec(select(Document))).all()) == 1
        assert len((await session.exec(select(Visit).where(
            Visit.status == "completed"))).all()) == 1
