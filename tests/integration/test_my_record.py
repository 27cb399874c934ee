"""My record for the person at home (#12 item 1): what is due today, the week in words, the
alerts in plain words, charts and devices, the next visit with its Join button; and nobody
sees another patient's record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.db.models import Delegation, Visit, VisitParticipant
from tests.conftest import World
from tests.helpers.pages import log_in, text_of
from tests.helpers.plans import PLAN as FULL_PLAN
from tests.helpers.ward import Ward
from tests.integration.monitoring import add_plan, now_s

Client = TestClient[Any, Any]
PLAN = {k: v for k, v in FULL_PLAN.items() if k not in ('title', 'period_start')}


async def _visit(world: World, patient_id: str, doctor_id: str, start: datetime) -> str:
    async with world.app[keys.SESSIONS]() as session:
        visit = Visit(kind="televisit", patient_id=patient_id, scheduled_start=start,
                      duration_minutes=20, created_by=doctor_id)
        session.add(visit)
        await session.flush()
        session.add(VisitParticipant(visit_id=visit.id, user_id=doctor_id,
                                     scheduled_start=visit.scheduled_start))
        await session.commit()
        return visit.id


async def test_my_record_shows_today_the_week_in_words_and_the_alert_calmly(
    client: Client, world: World
) -> None:
    ward = await Ward(world).build()
    await add_plan(world.app, ward.patient.id, ward.doctor["id"], PLAN)
    now = now_s()
    await ward.send(("body_weight", 80.0, "kg", now - 48 * 3600),
                    ("body_weight", 82.1, "kg", now - 60))
    await log_in(client, ward.patient_user["username"])
    html = await (await client.get("/my-record")).text()
    page = text_of(html)
    assert 'data-due="body_weight"' in html and 'data-due="bp_systolic"' in html
    assert "Your weight is 2.1 kg up this week. Your care team has been told." in page
    assert "Your body weight has changed over the last days." in page
    assert "Your care team has been told and will contact you if needed." in page
    notes = text_of(html.split("data-patient-alerts")[1].split("</ul>")[0]).lower()
    assert notes and not any(word in notes for word in ("critical", "warning", "alert"))
    # the charts with the team's bands, and the device with its battery and last contact
    assert 'id="chart-body_weight"' in html and "Battery" in page
    # the navigation of a patient
    for link in ("/my-record/readings", "/my-record/questionnaires"):
        assert f'href="{link}"' in html
    # the documents region waits for its include
    assert 'id="documents"' in html


async def test_next_visit_join_button_is_active_only_in_the_join_window(
    client: Client, world: World
) -> None:
    ward = await Ward(world).build()
    await log_in(client, ward.patient_user["username"])
    later = await _visit(world, ward.patient.id, ward.doctor["id"],
                         datetime.now(UTC) + timedelta(hours=3))
    html = await (await client.get("/my-record")).text()
    assert "Your next visit" in html
    assert f'href="/visits/{later}"' not in html.split('id="today"')[0]
    assert "disabled data-join" in html
    soon = await _visit(world, ward.patient.id, ward.doctor["id"],
                        datetime.now(UTC) + timedelta(minutes=5))
    html = await (await client.get("/my-record")).text()
    top = html.split('id="today"')[0]
    assert f'href="/visits/{soon}" data-join' in top and "disabled data-join" not in top


async def test_nobody_sees_another_patients_record(client: Client, world: World) -> None:
    ward = await Ward(world).build()
    await add_plan(world.app, ward.other.id, ward.stranger["id"], PLAN)
    other_user = await world.user("patient", patient_id=ward.other.id)
    await log_in(client, ward.patient_user["username"])
    for path in (f"/my-record?patient={ward.other.id}", f"/patients/{ward.other.id}",
                 f"/my-record/readings?patient={ward.other.id}"):
        resp = await client.get(path, allow_redirects=False)
        assert resp.status in (403, 404), path
        assert ward.other.family_name not in await resp.text()
    # a user with no delegation (no rights) reaches nothing either
    await log_in(client, other_user["username"])
    resp = await client.get(f"/my-record?patient={ward.patient.id}")
    assert resp.status == 403
    # a delegate of the other patient sees that record, and only that one
    carer = await world.user("patient")
    async with world.app[keys.SESSIONS]() as session:
        session.add(Delegation(patient_id=ward.other.id, delegate_id=carer["id"],
                               relationship="caregiver", granted_by=other_user["id"]))
        await session.commit()
    await log_in(client, carer["username"])
    delegated = await (await client.get("/my-record")).text()
    assert ward.other.family_name in delegated
    assert "/my-record/readings?patient=" not in delegated  # read-only: nothing to enter
    resp = await client.get(f"/my-record?patient={ward.patient.id}")
    assert resp.status == 403
