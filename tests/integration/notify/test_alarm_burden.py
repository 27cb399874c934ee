"""Alarm burden of a care team and its patients: figures aggregated in SQL, shown to the
team's clinicians only (API and page, it/en), and the operators' Prometheus gauges."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlmodel import col, select

from telemed import keys
from telemed.db.models import AuditEvent
from telemed.notify.setup import NOTIFY_METRICS
from tests.conftest import World
from tests.helpers.pages import log_in, post_form, text_of
from tests.helpers.ward import Ward
from tests.integration.notify.clinic import ORDER_SIZES, burden_ward, check_order_statistics

Client = TestClient[Any, Any]


@pytest.fixture
async def ward(world: World) -> Ward:
    return await burden_ward(world)


async def test_the_team_and_its_patients_burden(client: Client, ward: Ward) -> None:
    resp = await client.get("/api/v1/alarm-burden?days=7",
                            headers=await ward.headers(ward.doctor))
    assert resp.status == 200, await resp.text()
    data = await resp.json()
    team = data["team"]
    assert team["patients"] == 1 and team["alerts"] == 3 and team["critical"] == 1
    assert team["alerts_per_patient_week"] == 3.0
    assert team["auto_recovered_share"] == 0.333
    assert team["time_to_acknowledge_s"] == {"median": 120.0, "p90": 300.0}
    assert team["time_to_resolve_s"] == {"median": 600.0, "p90": 600.0}
    assert team["escalations"] == 2 and team["escalated_alerts"] == 1
    # 3 notifications, 1 nurse, 7 days = 21 shifts of 8 h
    assert team["notifications_per_nurse_shift"] == round(3 / 21, 2)
    [row] = data["patients"]
    assert row["patient_id"] == ward.patient.id and row["alerts"] == 3
    assert row["name"] == f"{ward.patient.family_name} {ward.patient.given_name}"
    async with ward.world.app[keys.SESSIONS]() as session:
        audited = (await session.exec(
            select(AuditEvent.patient_id).where(AuditEvent.reason_code == "alarm_burden")
            .where(col(AuditEvent.actor_id) == ward.doctor["id"]))).all()
    assert list(audited) == [ward.patient.id]
    # the other team sees its own patient only
    other = await (await client.get("/api/v1/alarm-burden",
                                    headers=await ward.headers(ward.stranger))).json()
    assert [p["patient_id"] for p in other["patients"]] == [ward.other.id]
    assert other["team"]["alerts"] == 5 and other["team"]["critical"] == 5


async def test_only_clinicians_see_it_and_bad_periods_are_refused(
        client: Client, ward: Ward) -> None:
    for who in (ward.admin, ward.patient_user):
        resp = await client.get("/api/v1/alarm-burden", headers=await ward.headers(who))
        assert resp.status == 403
    assert (await client.get("/api/v1/alarm-burden")).status == 401
    doctor = await ward.headers(ward.doctor)
    for bad in ("0", "93", "abc", "-1", "7.5"):
        resp = await client.get(f"/api/v1/alarm-burden?days={bad}", headers=doctor)
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_days"


async def test_the_team_lead_page_in_both_languages_without_javascript(
        client: Client, ward: Ward) -> None:
    resp = await log_in(client, ward.doctor["username"])
    assert resp.status in (302, 303)
    page = await client.get("/alarm-burden?days=30", headers={"Accept-Language": "en"})
    html = await page.text()
    text = text_of(html)
    assert page.status == 200
    assert "Alerts per patient-week 0.93" in text  # 4 alerts, 1 patient, 30 days
    assert "Recovered before anyone looked 25 %" in text
    assert "Time to acknowledge (median / p90) 2 min / 5 min" in text
    assert f'data-patient="{ward.patient.id}"' in html and ward.other.id not in html
    await post_form(client, "/language", {"lang": "it"})
    italian = text_of(await (await client.get("/alarm-burden?days=bogus")).text())
    assert "Carico di allarmi" in italian and "Ultimi 7 giorni" in italian


async def test_the_operators_metrics(client: Client, ward: Ward) -> None:
    app = ward.world.app
    burden = await app[NOTIFY_METRICS].refresh(app[keys.SESSIONS])
    assert burden is not None and burden.alerts == 8 and burden.escalations == 2
    body = await (await client.get("/metrics")).text()
    assert 'telemed_alarm_time_to_acknowledge_seconds{quantile="0.9"} 300.0' in body
    assert 'telemed_alarm_alerts{severity="critical"} 6.0' in body
    assert "telemed_alarm_escalations 2.0" in body
    assert ward.patient.family_name not in body


async def test_the_team_condition_is_evaluated_by_two_statements(ward: Ward) -> None:
    """The team (care teams with the patients' consent) is one SQL condition, read by two
    statements (the team's alerts, its nurses' load), not one per figure."""
    from telemed.principal import Principal
    from telemed.services.alarm_burden import team_burden
    from tests.helpers.statements import counting

    app = ward.world.app
    who = Principal(user_id=ward.doctor["id"], username=ward.doctor["username"], role="doctor",
                    display_name="Dr", patient_id=None, via="bearer")
    with counting(app) as statements:
        async with app[keys.SESSIONS]() as session:
            result = await team_burden(session, who, days=7)
    assert result.team.alerts == 3 and result.team.patients == 1
    assert result.team.ack_p90_s == 300.0
    consent_checks = [s for s in statements if "consents" in s.lower()]
    assert len(consent_checks) == 2, consent_checks
    selects = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert len(selects) == 3, selects  # + the names of the patients shown



@pytest.mark.parametrize("count", ORDER_SIZES)
async def test_sql_order_statistics_are_the_domains(world: World, count: int) -> None:
    await check_order_statistics(world, count)
