"""Questionnaires (#12 item 3, CONTRACT §7): scheduled by the plan, answered on a page
without script, scored, alerting past the plan's threshold through the alert machinery,
shown to the team, refused to anyone else."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.db.models import Delegation
from tests.conftest import World
from tests.helpers.pages import field_error, log_in, post_form, text_of
from tests.helpers.plans import PLAN as FULL_PLAN
from tests.helpers.ward import Ward
from tests.integration.monitoring import add_plan, alerts_of

Client = TestClient[Any, Any]
PLAN = {k: v for k, v in FULL_PLAN.items() if k not in ("title", "period_start")}
PLAN = {**PLAN, "questionnaires": [
    {"code": "hf_diary", "schedule": {"every_days": 1},
     "alert": {"score_at_least": 4, "severity": "warning"}},
    {"code": "phq9", "schedule": {"every_days": 14}, "alert": {"score_at_least": 10}},
]}
HF = "/my-record/questionnaires/hf_diary"

CALM = {"breathlessness": "0", "orthopnoea": "0", "ankle_swelling": "1", "fatigue": "1"}
WORSE = {"breathlessness": "2", "orthopnoea": "1", "ankle_swelling": "2", "fatigue": "1"}


@pytest.fixture
async def ward(world: World) -> Ward:
    """The ward, its patient following PLAN."""
    ward = await Ward(world).build()
    await add_plan(world.app, ward.patient.id, ward.doctor["id"], PLAN)
    return ward


async def test_the_heart_failure_diary_is_due_answered_scored_and_alerts(
    client: Client, world: World, ward: Ward
) -> None:
    doctor = await world.token(ward.doctor["username"])
    await log_in(client, ward.patient_user["username"])
    home = await (await client.get("/my-record")).text()
    assert 'data-questionnaire-due="hf_diary"' in home
    listing = text_of(await (await client.get("/my-record/questionnaires")).text())
    assert "Heart failure diary" in listing and "To answer today" in listing
    form = await (await client.get(HF)).text()
    assert form.count('type="radio"') == 4 + 3 + 3 + 3 and "<script" not in form.split(
        "<main")[1]
    # a calm day: stored, no alert
    resp = await post_form(client, HF, CALM, page=HF)
    assert resp.status == 303 and resp.headers["Location"] == "/my-record"
    assert await alerts_of(world.app, ward.patient.id) == []
    assert 'data-questionnaire-due="hf_diary"' not in await (await client.get(
        "/my-record")).text()
    # a worse day: score 6 ≥ 4, the alert machinery opens a questionnaire alert
    resp = await post_form(client, HF, WORSE, page=HF)
    assert resp.status == 303
    [alert] = await alerts_of(world.app, ward.patient.id)
    assert (alert.kind, alert.severity, alert.rule_key, alert.detail_code) == (
        "questionnaire", "warning", "questionnaire:hf_diary", "questionnaire")
    assert alert.detail_args["score"] == 6 and alert.detail_args["band"] == "worse"
    # the team sees the responses on the patient page and through the API, and the plan
    client.session.cookie_jar.clear()
    await log_in(client, ward.nurse["username"])
    page = text_of(await (await client.get(f"/patients/{ward.patient.id}")).text())
    assert "Questionnaires answered" in page and "6 / 9" in page
    plan = text_of(await (await client.get(f"/careplans/{alert.careplan_id}")).text())
    assert "Heart failure diary: every day; alert from a score of 4" in plan
    assert "Mood (PHQ-9): every 14 days" in plan
    client.session.cookie_jar.clear()
    got = await (await client.get(
        f"/api/v1/patients/{ward.patient.id}/questionnaire-responses", headers=doctor)).json()
    assert [(r["questionnaire"], r["score"], r["entered_by"]) for r in got["items"]] == [
        ("hf_diary", 6, ward.patient_user["id"]), ("hf_diary", 2, ward.patient_user["id"])]


async def test_phq9_item9_opens_a_critical_alert_through_the_api(
    client: Client, world: World, ward: Ward
) -> None:
    headers = await world.token(ward.patient_user["username"])
    answers = [{"link_id": f"phq9-{n}", "value": 0} for n in range(1, 9)]
    answers.append({"link_id": "phq9-9", "value": 1})
    resp = await client.post(f"/api/v1/patients/{ward.patient.id}/questionnaire-responses",
                             json={"questionnaire": "phq9", "answers": answers},
                             headers=headers)
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert (body["score"], body["band"], body["flags"]) == (1, "minimal", ["item9"])
    [alert] = await alerts_of(world.app, ward.patient.id)
    assert alert.severity == "critical" and alert.kind == "questionnaire"
    catalogue = await (await client.get("/api/v1/questionnaires", headers=headers)).json()
    assert {q["id"] for q in catalogue["items"]} == {"phq9", "hf_diary", "copd_diary",
                                                     "hypo_diary"}


async def test_bad_answers_are_refused_and_nothing_is_stored(
    client: Client, world: World, ward: Ward
) -> None:
    headers = await world.token(ward.patient_user["username"])
    url = f"/api/v1/patients/{ward.patient.id}/questionnaire-responses"
    bad_bodies: list[Any] = [
        {"questionnaire": "hf_diary", "answers": [{"link_id": "breathlessness", "value": 0}]},
        {"questionnaire": "hf_diary", "answers": [
            {"link_id": k, "value": 9} for k in CALM]},
        {"questionnaire": "nope", "answers": []},
        {"questionnaire": "hf_diary", "answers": [{"link_id": "fatigue", "value": 0}] * 2},
        {"questionnaire": "hf_diary", "answers": "all fine"},
        {"questionnaire": "hf_diary", "answers": [], "extra": 1},
    ]
    for bad in bad_bodies:
        resp = await client.post(url, json=bad, headers=headers)
        assert resp.status in (400, 422), bad
        assert "error" in await resp.json()
    await log_in(client, ward.patient_user["username"])
    resp = await post_form(client, HF, {"breathlessness": "1"}, page=HF)
    assert resp.status == 422
    assert "Please answer this question." in field_error(await resp.text(), "fatigue")
    assert (await client.get("/my-record/questionnaires/nothing")).status == 404
    client.session.cookie_jar.clear()
    listed = await (await client.get(url, headers=headers)).json()
    assert listed["items"] == []


async def test_nobody_answers_for_another_patient(client: Client, world: World) -> None:
    ward = await Ward(world).build()
    await add_plan(world.app, ward.other.id, ward.stranger["id"], PLAN)
    url = f"/api/v1/patients/{ward.other.id}/questionnaire-responses"
    body = {"questionnaire": "hf_diary",
            "answers": [{"link_id": k, "value": int(v)} for k, v in CALM.items()]}
    for who in (ward.patient_user, ward.doctor, ward.admin):
        headers = await world.token(who["username"])
        assert (await client.post(url, json=body, headers=headers)).status == 403, who
        assert (await client.get(url, headers=headers)).status == 403, who
    carer = await world.user("patient")
    async with world.app[keys.SESSIONS]() as session:  # read-only delegate of the other
        session.add(Delegation(patient_id=ward.other.id, delegate_id=carer["id"],
                               relationship="caregiver", granted_by=ward.doctor["id"]))
        await session.commit()
    await log_in(client, carer["username"])
    resp = await post_form(client, f"{HF}?patient={ward.other.id}", CALM)
    assert resp.status == 403
    await log_in(client, ward.patient_user["username"])
    resp = await post_form(client, f"{HF}?patient={ward.other.id}", CALM, page=HF)
    assert resp.status == 403
    assert (await client.get(f"/my-record/questionnaires?patient={ward.other.id}")).status \
        == 403
    assert await alerts_of(world.app, ward.other.id) == []


async def test_responses_are_fhir_questionnaire_responses(client: Client, world: World,
                                                          ward: Ward) -> None:
    from tests.unit.fhir.validation import validate

    mine = await world.token(ward.patient_user["username"])
    body = {"questionnaire": "hf_diary",
            "answers": [{"link_id": k, "value": int(v)} for k, v in WORSE.items()]}
    created = await (await client.post(
        f"/api/v1/patients/{ward.patient.id}/questionnaire-responses", json=body,
        headers=mine)).json()
    doctor = await world.token(ward.doctor["username"])
    resp = await client.get(f"/fhir/R4/QuestionnaireResponse?patient={ward.patient.id}",
                            headers=doctor)
    assert resp.status == 200, await resp.text()
    bundle = await resp.json(content_type=None)
    validate(bundle)
    [entry] = bundle["entry"]
    resource = entry["resource"]
    validate(resource)
    assert resource["id"] == created["id"] and resource["status"] == "completed"
    assert resource["questionnaire"].endswith("hf_diary")
    score = next(i for i in resource["item"] if i["linkId"] == "score")
    assert score["answer"] == [{"valueInteger": 6}]
    one = await client.get(f"/fhir/R4/QuestionnaireResponse/{created['id']}", headers=doctor)
    assert one.status == 200
    validate(await one.json(content_type=None))
    # another team's doctor reads nothing of it
    stranger = await world.token(ward.stranger["username"])
    other = await client.get(f"/fhir/R4/QuestionnaireResponse/{created['id']}",
                             headers=stranger)
    assert other.status in (403, 404)
    listed = await client.get(f"/fhir/R4/QuestionnaireResponse?patient={ward.patient.id}",
                              headers=stranger)
    assert listed.status == 403 or not (await listed.json(content_type=None)).get("entry")


def test_the_demo_heart_failure_plan_schedules_the_diary() -> None:
    from telemed.demo import HEART_FAILURE
    from telemed.domain.careplans import parse_careplan_content

    content = parse_careplan_content({k: v for k, v in HEART_FAILURE.items() if k != "title"})
    diary = content.questionnaire("hf_diary")
    assert diary is not None and diary.every_days == 1 and diary.alert_at == 4
    assert [e.metric for e in content.monitoring][:1] == ["body_weight"]


async def test_the_doctor_schedules_a_questionnaire_in_the_care_plan_editor(
    client: Client, world: World
) -> None:
    from sqlmodel import select

    from telemed.db.models import CarePlan

    doctor = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    await log_in(client, doctor["username"])
    form = {"title": "Scompenso", "period_start": "2026-12-01", "period_end": "", "goals": "",
            "m-body_weight-monitor": "on", "m-body_weight-schedule": "times",
            "m-body_weight-times": "08:00", "m-body_weight-tolerance": "60",
            "news2-spo2_scale": "1", "silence_hours": "", "escalate_after_minutes": "",
            "q-hf_diary-on": "on", "q-hf_diary-every": "1", "q-hf_diary-alert": "99",
            "q-phq9-every": "14", "q-phq9-alert": ""}
    new = f"/patients/{patient.id}/careplans/new"
    resp = await post_form(client, new, form, page=new)
    assert resp.status == 422  # 99 is past the diary's 9 points: said at the field
    assert "9" in field_error(await resp.text(), "q-hf_diary-alert")
    resp = await post_form(client, new, {**form, "q-hf_diary-alert": "4"}, page=new)
    assert resp.status == 303, await resp.text()
    async with world.app[keys.SESSIONS]() as session:
        plan = (await session.exec(select(CarePlan).where(
            CarePlan.patient_id == patient.id))).one()
    assert plan.content["questionnaires"] == [
        {"code": "hf_diary", "schedule": {"every_days": 1}, "alert": {
            "score_at_least": 4, "severity": "warning"}}]
    edit = await (await client.get(f"/careplans/{plan.plan_id}/edit")).text()
    assert 'name="q-hf_diary-on" value="on" checked' in edit
    assert 'name="q-phq9-on" value="on">' in edit and 'value="4"' in edit
