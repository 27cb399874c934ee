"""Manual readings (#12 item 2, CONTRACT §7): a form per metric in the person's unit, the
devices' validation, pipeline and rules, marked with who typed them in; nobody enters
readings into another patient's record."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.db.models import Delegation
from tests.conftest import World
from tests.helpers.pages import field_error, log_in, post_form, text_of
from tests.helpers.plans import PLAN as FULL_PLAN
from tests.helpers.ward import Ward
from tests.integration.monitoring import add_plan, alerts_of, now_s, observations

Client = TestClient[Any, Any]
PLAN = {k: v for k, v in FULL_PLAN.items() if k not in ("title", "period_start")}
FORM = "/my-record/readings"


async def test_a_weight_in_pounds_is_stored_in_kg_by_the_patient_and_trips_the_trend(
    client: Client, world: World
) -> None:
    ward = await Ward(world).build()
    await add_plan(world.app, ward.patient.id, ward.doctor["id"], PLAN)
    await ward.send(("body_weight", 80.0, "kg", now_s() - 48 * 3600))
    headers = await world.token(ward.doctor["username"])
    await log_in(client, ward.patient_user["username"])
    page = await (await client.get(FORM)).text()
    # the plan's measurements, each with its form; lb offered for the weight
    assert 'id="form-body_weight"' in page and 'id="form-bp"' in page
    assert 'value="[lb_av]"' in page
    # the navigation marks this page, not its parent "My record"
    assert 'href="/my-record/readings" aria-current="page"' in page
    assert 'href="/my-record" aria-current' not in page
    resp = await post_form(client, FORM, {"form": "body_weight", "body_weight-body_weight":
                                          "181,0", "body_weight-unit": "[lb_av]"}, page=FORM)
    assert resp.status == 303, await resp.text()
    assert resp.headers["Location"] == "/my-record#today"
    stored = [o for o in await observations(world.app, ward.patient.id) if o.entered_by]
    assert len(stored) == 1
    assert stored[0].entered_by == ward.patient_user["id"]
    assert abs(stored[0].value - 82.1) < 0.01 and stored[0].unit == "kg"
    # the same rules as a device's reading: +2 kg in 72 h opens the trend alert
    assert [a.kind for a in await alerts_of(world.app, ward.patient.id)] == ["trend"]
    # the unit is remembered; the record says it was saved
    assert 'value="[lb_av]" checked' in await (await client.get(FORM)).text()
    # the manual source is no device of the patient's
    home = text_of(await (await client.get("/my-record")).text())
    assert "manual-" not in home
    # the API says who typed it in
    client.session.cookie_jar.clear()
    listing = await (await client.get(f"/api/v1/patients/{ward.patient.id}/observations",
                                      headers=headers)).json()
    sources = {(i["source"], i["entered_by"]) for i in listing["items"]}
    assert ("manual", ward.patient_user["id"]) in sources and ("device", None) in sources


async def test_bad_values_are_refused_with_a_clear_message_and_nothing_stored(
    client: Client, world: World
) -> None:
    ward = await Ward(world).build()
    await add_plan(world.app, ward.patient.id, ward.doctor["id"], PLAN)
    await log_in(client, ward.patient_user["username"])
    cases = [
        ({"body_weight-body_weight": "heavy", "body_weight-unit": "kg"},
         "body_weight-body_weight", "Type a number"),
        ({"body_weight-body_weight": "820", "body_weight-unit": "kg"},
         "body_weight-body_weight", "cannot be right"),
        ({"body_weight-body_weight": "82", "body_weight-unit": "stone"},
         "body_weight-unit", "Choose a unit"),
    ]
    for data, field, words in cases:
        resp = await post_form(client, FORM, {"form": "body_weight", **data}, page=FORM)
        assert resp.status == 422
        assert words in field_error(await resp.text(), field), data
    resp = await post_form(client, FORM, {"form": "nothing"}, page=FORM)
    assert resp.status == 400
    assert await observations(world.app, ward.patient.id) == []


async def test_blood_pressure_form_and_the_api_take_the_devices_pack(
    client: Client, world: World
) -> None:
    ward = await Ward(world).build()
    await add_plan(world.app, ward.patient.id, ward.doctor["id"], PLAN)
    headers = {**await world.token(ward.nurse["username"]),
               "Content-Type": "application/senml+json"}
    await log_in(client, ward.patient_user["username"])
    resp = await post_form(client, FORM, {"form": "bp", "bp-bp_systolic": "150",
                                          "bp-bp_diastolic": "85", "bp-heart_rate": "",
                                          "bp-unit": "mm[Hg]"}, page=FORM)
    assert resp.status == 303
    assert sorted(o.metric for o in await observations(world.app, ward.patient.id)) == [
        "bp_diastolic", "bp_systolic"]
    # a nurse of the team enters one through the API: marked as hers; a repeat is a duplicate
    client.session.cookie_jar.clear()
    pack = json.dumps([{"n": "spo2", "v": 95, "u": "%", "t": now_s() - 30}])
    url = f"/api/v1/patients/{ward.patient.id}/readings"
    first = await client.post(url, data=pack, headers=headers)
    assert first.status == 200 and (await first.json())["accepted"] == 1
    again = await (await client.post(url, data=pack, headers=headers)).json()
    assert again["accepted"] == 0 and again["duplicates"] == 1
    spo2 = [o for o in await observations(world.app, ward.patient.id) if o.metric == "spo2"]
    assert [o.entered_by for o in spo2] == [ward.nurse["id"]]
    bad = await client.post(url, data=json.dumps([{"n": "spo2", "v": 20, "u": "%"}]),
                            headers=headers)
    assert bad.status == 422 and (await bad.json())["error"]["code"] == "implausible"


async def test_nobody_enters_readings_into_another_patients_record(
    client: Client, world: World
) -> None:
    ward = await Ward(world).build()
    pack = json.dumps([{"n": "spo2", "v": 95, "u": "%", "t": now_s()}])
    url = f"/api/v1/patients/{ward.other.id}/readings"
    for who in (ward.patient_user, ward.doctor, ward.admin):  # another's patient, another team
        headers = {**await world.token(who["username"]),
                   "Content-Type": "application/senml+json"}
        resp = await client.post(url, data=pack, headers=headers)
        assert resp.status == 403, who
    # a delegate with read rights only may read, not enter
    carer = await world.user("patient")
    async with world.app[keys.SESSIONS]() as session:
        session.add(Delegation(patient_id=ward.patient.id, delegate_id=carer["id"],
                               relationship="caregiver", granted_by=ward.patient_user["id"]))
        await session.commit()
    await log_in(client, carer["username"])
    assert (await client.get(f"{FORM}?patient={ward.patient.id}")).status == 403
    resp = await post_form(client, f"{FORM}?patient={ward.patient.id}",
                           {"form": "spo2", "spo2-spo2": "95", "spo2-unit": "%"})
    assert resp.status == 403
    await log_in(client, ward.patient_user["username"])
    resp = await post_form(client, f"{FORM}?patient={ward.other.id}",
                           {"form": "spo2", "spo2-spo2": "95", "spo2-unit": "%"}, page=FORM)
    assert resp.status == 403
    assert await observations(world.app, ward.other.id) == []
    assert [o for o in await observations(world.app, ward.patient.id)] == []
