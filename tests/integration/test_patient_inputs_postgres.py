"""Manual readings and questionnaire responses on PostgreSQL: the unnest insert carries
``entered_by``, the devices' readings keep NULL, the questionnaire alert opens."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.conftest import World
from tests.helpers.plans import PLAN as FULL_PLAN
from tests.helpers.ward import Ward
from tests.integration.monitoring import add_plan, alerts_of, now_s, observations

pytestmark = pytest.mark.postgres

PLAN = {**{k: v for k, v in FULL_PLAN.items() if k not in ("title", "period_start")},
        "questionnaires": [{"code": "hf_diary", "alert": {"score_at_least": 4}}]}


@pytest.fixture
def app(postgres_app: web.Application) -> web.Application:
    return postgres_app


async def test_manual_reading_and_diary_on_postgres(client: TestClient[Any, Any],
                                                    world: World) -> None:
    ward = await Ward(world).build()
    await add_plan(world.app, ward.patient.id, ward.doctor["id"], PLAN)
    await ward.send(("body_weight", 80.0, "kg", now_s() - 48 * 3600))
    headers = await world.token(ward.patient_user["username"])
    resp = await client.post(
        f"/api/v1/patients/{ward.patient.id}/readings",
        data=json.dumps([{"n": "body_weight", "v": 181.0, "u": "[lb_av]", "t": now_s()}]),
        headers={**headers, "Content-Type": "application/senml+json"})
    assert resp.status == 200 and (await resp.json())["accepted"] == 1
    stored = {o.value: o.entered_by for o in await observations(world.app, ward.patient.id)}
    assert stored[80.0] is None
    assert [v for k, v in stored.items() if k != 80.0] == [ward.patient_user["id"]]
    answers = [{"link_id": k, "value": v} for k, v in (
        ("breathlessness", 3), ("orthopnoea", 0), ("ankle_swelling", 1), ("fatigue", 1))]
    resp = await client.post(f"/api/v1/patients/{ward.patient.id}/questionnaire-responses",
                             json={"questionnaire": "hf_diary", "answers": answers},
                             headers=headers)
    assert resp.status == 201
    kinds = sorted(a.kind for a in await alerts_of(world.app, ward.patient.id))
    assert kinds == ["questionnaire", "trend"]
