"""Clinicians-only visits on PostgreSQL: the lists' audience condition
(`services.visits.shown_to`) leaves them out for the patient's side there too."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.conftest import World
from tests.helpers.teleconsults import consult_visits

pytestmark = pytest.mark.postgres


@pytest.fixture
def app(postgres_app: web.Application) -> web.Application:
    return postgres_app


async def test_lists_leave_them_out_on_postgres(client: TestClient[Any, Any],
                                                world: World) -> None:
    w = await consult_visits(client, world)
    hidden, invited = w["visits"]["hidden"], w["visits"]["invited"]
    fhir = f"/fhir/R4/Appointment?patient={w['patient_record'].id}"
    for who in ("patient", "caregiver", "gp"):
        bundle = await (await client.get(fhir, headers=w["h"][who])).json()
        ids = {e["resource"]["id"] for e in bundle.get("entry", [])}
        if who == "gp":  # the clinicians' side still has both
            assert ids == {hidden, invited}
            continue
        agenda = await (await client.get("/visits", headers=w["h"][who])).text()
        assert ids == {invited} and invited in agenda and hidden not in agenda, who
    mine = await (await client.get("/api/v1/visits", headers=w["h"]["patient"])).json()
    assert [v["id"] for v in mine["items"]] == [invited]
