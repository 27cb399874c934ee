"""A reading belongs to the patient the device was assigned to at the reading's time (#10).

The rule, over the HTTP ingest path (the MQTT path and the device's offline buffer are in
`test_reading_attribution_mqtt.py`): buffered readings after a reassignment, a pack spanning
the reassignment moment (split record by record), unassigned then reassigned, given back to
an earlier patient, readings before any assignment (refused with a code), the previous
patient's rules, the history in the API and the audit, and who may move a device.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlmodel import col, select

from telemed import keys
from telemed.db.models import AuditEvent, Patient
from tests.conftest import World
from tests.integration.monitoring import (
    add_device,
    add_plan,
    alerts_of,
    basic,
    now_s,
    observations,
    pack,
)

READINGS = "/api/v1/devices/{}/readings"
MINUTE = 60.0


class Homes:
    """Patients A, B and C of one doctor, and device D, A's for the last two hours."""

    async def build(self, world: World) -> Homes:
        self.world = world
        self.doctor = await world.user("doctor")
        self.a = await world.patient(team=[self.doctor["id"]])
        self.b = await world.patient(team=[self.doctor["id"]])
        self.c = await world.patient(team=[self.doctor["id"]])
        self.device = await add_device(world.app, self.a.id,
                                       assigned_from=datetime.now(UTC) - timedelta(hours=2))
        self.headers = await world.token(self.doctor["username"])
        return self

    async def send(self, *records: tuple[str, float, str, float],
                   expect: int = 200) -> dict[str, Any]:
        resp = await self.world.client.post(READINGS.format(self.device), data=pack(*records),
                                            headers=basic(self.device))
        assert resp.status == expect, await resp.text()
        return dict(await resp.json())

    async def move(self, patient: Patient | None, headers: dict[str, str] | None = None,
                   expect: int = 200) -> dict[str, Any]:
        resp = await self.world.client.patch(
            f"/api/v1/devices/{self.device}",
            json={"patient_id": patient.id if patient is not None else None},
            headers=headers or self.headers)
        assert resp.status == expect, await resp.text()
        return dict(await resp.json())

    async def values(self, patient: Patient) -> list[float]:
        return [o.value for o in await observations(self.world.app, patient.id)]

    async def history(self) -> list[dict[str, Any]]:
        resp = await self.world.client.get(f"/api/v1/devices/{self.device}",
                                           headers=self.headers)
        assert resp.status == 200, await resp.text()
        return list((await resp.json())["assignments"])


@pytest.fixture
async def homes(world: World) -> Homes:
    return await Homes().build(world)


async def test_buffered_readings_after_a_reassignment_stay_with_the_patient_who_took_them(
        client: TestClient[Any, Any], homes: Homes) -> None:
    """The issue's example: A's reading replayed after D went to B is A's, not B's."""
    t = now_s()
    await homes.send(("heart_rate", 61, "/min", t - 60 * MINUTE))
    await homes.move(homes.b)
    answer = await homes.send(("heart_rate", 62, "/min", t - 50 * MINUTE))  # A's buffer
    assert (answer["accepted"], answer["rejected"]) == (1, [])
    await homes.send(("heart_rate", 63, "/min", now_s()))  # taken by B
    assert await homes.values(homes.a) == [61, 62]
    assert await homes.values(homes.b) == [63]
    late = {o.value: o.late for o in await observations(homes.world.app, homes.a.id)}
    assert late == {61: True, 62: True}  # the late flag as for any buffered reading
    # B's team sees only B's reading through the API (same semantics as before)
    resp = await client.get(f"/api/v1/patients/{homes.b.id}/observations",
                            headers=homes.headers)
    assert [o["value"] for o in (await resp.json())["items"]] == [63]
    # resent after the move: still stored once, still A's (unique on device/metric/time)
    again = await homes.send(("heart_rate", 62, "/min", t - 50 * MINUTE))
    assert (again["accepted"], again["duplicates"]) == (0, 1)
    assert await homes.values(homes.a) == [61, 62]


async def test_a_pack_spanning_the_reassignment_is_split_record_by_record(
        client: TestClient[Any, Any], homes: Homes) -> None:
    await homes.move(homes.b)
    [_, current] = await homes.history()
    moved = datetime.fromisoformat(current["from"]).timestamp()
    answer = await homes.send(("heart_rate", 70, "/min", moved - 1),
                              ("spo2", 95, "%", moved - 0.001),
                              ("heart_rate", 71, "/min", moved),  # the moment: the new patient
                              ("spo2", 96, "%", moved + 1))
    assert (answer["accepted"], answer["rejected"]) == (4, [])
    assert await homes.values(homes.a) == [70, 95]
    assert await homes.values(homes.b) == [71, 96]


async def test_readings_before_any_assignment_are_refused_with_a_code(
        client: TestClient[Any, Any], world: World, homes: Homes) -> None:
    since = datetime.now(UTC) - timedelta(hours=1)
    homes.device = await add_device(world.app, homes.a.id, assigned_from=since)
    t = since.timestamp()
    answer = await homes.send(("heart_rate", 80, "/min", t - 5 * MINUTE),
                              ("heart_rate", 81, "/min", t + 5 * MINUTE))
    assert answer["accepted"] == 1
    [refused] = answer["rejected"]
    assert (refused["code"], refused["record_index"]) == ("before_assignment", 0)
    assert "before this device was assigned" in refused["message"]
    assert await homes.values(homes.a) == [81]
    # a pack with nothing else is refused as a whole, with the code
    error = await homes.send(("heart_rate", 82, "/min", t - 10 * MINUTE), expect=422)
    assert error["error"]["code"] == "before_assignment"
    metrics = await (await client.get("/metrics")).text()
    assert 'telemed_readings_rejected_total{code="before_assignment"} 2.0' in metrics


async def test_unassigned_then_reassigned(client: TestClient[Any, Any],
                                          homes: Homes) -> None:
    out = await homes.move(None)
    assert out["patient_id"] is None
    await asyncio.sleep(0.2)  # nobody has the device for a while
    await homes.move(homes.c)
    [a, c] = await homes.history()
    assert (a["patient_id"], c["patient_id"]) == (homes.a.id, homes.c.id)
    unassigned = datetime.fromisoformat(a["until"]).timestamp()
    given = datetime.fromisoformat(c["from"]).timestamp()
    assert given - unassigned >= 0.2
    answer = await homes.send(("heart_rate", 90, "/min", unassigned - 1),  # A's
                              ("heart_rate", 91, "/min", unassigned + 0.05),  # nobody's
                              ("heart_rate", 92, "/min", given + 0.05))  # C's
    assert answer["accepted"] == 2
    assert [(r["code"], r["record_index"]) for r in answer["rejected"]] == [("no_patient", 1)]
    assert await homes.values(homes.a) == [90]
    assert await homes.values(homes.c) == [92]


async def test_an_unassigned_device_stores_nothing_new_but_its_buffer_still_counts(
        client: TestClient[Any, Any], homes: Homes) -> None:
    t = now_s()
    await homes.move(None)
    error = await homes.send(("heart_rate", 75, "/min", now_s()), expect=422)
    assert error["error"]["code"] == "no_patient"
    answer = await homes.send(("heart_rate", 74, "/min", t - MINUTE))  # taken while A's
    assert answer["accepted"] == 1 and await homes.values(homes.a) == [74]
    assert await homes.values(homes.b) == []


async def test_a_device_given_back_to_an_earlier_patient(client: TestClient[Any, Any],
                                                         homes: Homes) -> None:
    await homes.move(homes.b)
    await asyncio.sleep(0.05)
    await homes.move(homes.a)
    [first, second, third] = await homes.history()
    assert [h["patient_id"] for h in (first, second, third)] == [homes.a.id, homes.b.id,
                                                                 homes.a.id]
    assert third["until"] is None and second["until"] == third["from"]
    to_b = datetime.fromisoformat(second["from"]).timestamp()
    back = datetime.fromisoformat(third["from"]).timestamp()
    await homes.send(("heart_rate", 100, "/min", to_b - MINUTE),
                     ("heart_rate", 101, "/min", (to_b + back) / 2),
                     ("heart_rate", 102, "/min", back + 0.01))
    assert await homes.values(homes.a) == [100, 102]
    assert await homes.values(homes.b) == [101]


async def test_late_readings_of_the_previous_patient_run_their_rules_not_the_new_ones(
        client: TestClient[Any, Any], homes: Homes) -> None:
    """A's out-of-band reading replayed after the move opens A's alert; B gets nothing."""
    app = homes.world.app
    plan = {"monitoring": [{"metric": "heart_rate", "schedule": {"continuous": True},
                            "bands": {"warning_high": 100, "critical_high": 130}}]}
    await add_plan(app, homes.a.id, homes.doctor["id"], plan)
    await add_plan(app, homes.b.id, homes.doctor["id"], plan)
    t = now_s()
    await homes.send(("heart_rate", 70, "/min", t - 60 * MINUTE))
    await homes.move(homes.b)
    await homes.send(("heart_rate", 140, "/min", t - 50 * MINUTE))
    [alert] = await alerts_of(app, homes.a.id)
    assert (alert.kind, alert.severity, alert.value) == ("threshold", "critical", 140)
    assert await alerts_of(app, homes.b.id) == []


async def test_history_in_the_api_and_the_audit_for_both_patients(
        client: TestClient[Any, Any], world: World, homes: Homes) -> None:
    moved = await homes.move(homes.b)
    assert moved["patient_id"] == homes.b.id
    [a, b] = moved["assignments"]
    assert (a["patient_id"], b["patient_id"], b["until"]) == (homes.a.id, homes.b.id, None)
    assert a["until"] == b["from"]
    async with world.app[keys.SESSIONS]() as session:
        events = (await session.exec(
            select(AuditEvent).where(AuditEvent.resource == "device")
            .where(AuditEvent.action == "update")
            .order_by(col(AuditEvent.id)))).all()
    reasons = {e.patient_id: (e.reason_code, e.reason_params or {}) for e in events}
    assert reasons[homes.a.id][0] == "device_taken"
    assert reasons[homes.b.id][0] == "device_given"
    assert homes.b.id not in str(reasons[homes.a.id]) and homes.a.id not in str(
        reasons[homes.b.id])
    assert all(e.actor_id == homes.doctor["id"] for e in events)
    # B's own nurse, who may not see A, learns the device was someone else's, not whose
    nurse = await world.user("nurse")
    from telemed.db.models import CareTeamMember, Consent

    async with world.app[keys.SESSIONS]() as session:
        session.add(CareTeamMember(patient_id=homes.b.id, user_id=nurse["id"]))
        session.add(Consent(patient_id=homes.b.id, granted=True, recorded_by=nurse["id"]))
        await session.commit()
    resp = await client.get(f"/api/v1/devices/{homes.device}",
                            headers=await world.token(nurse["username"]))
    assert resp.status == 200, await resp.text()
    assert [h["patient_id"] for h in (await resp.json())["assignments"]] == [None, homes.b.id]


async def test_only_staff_of_both_patients_move_a_device(client: TestClient[Any, Any],
                                                         world: World, homes: Homes) -> None:
    stranger = await world.user("doctor")
    elsewhere = await world.patient(team=[stranger["id"]])
    theirs = await world.token(stranger["username"])
    # a doctor of another team cannot take A's device for their own patient
    await homes.move(elsewhere, headers=theirs, expect=403)
    # A's doctor cannot give it to a patient they have no access to
    await homes.move(elsewhere, expect=403)
    # the patient cannot move their own device
    patient_user = await world.user("patient", patient_id=homes.a.id)
    await homes.move(homes.b, headers=await world.token(patient_user["username"]), expect=403)
    await homes.move(homes.b, headers={"Authorization": "Bearer forged"}, expect=401)
    [only] = await homes.history()
    assert (only["patient_id"], only["until"]) == (homes.a.id, None)
    t = now_s()
    await homes.send(("heart_rate", 66, "/min", t))
    assert await homes.values(homes.a) == [66] and await homes.values(elsewhere) == []



def _name(patient: Patient) -> str:
    return f"{patient.family_name} {patient.given_name}"


async def test_the_device_page_shows_who_had_it_when(client: TestClient[Any, Any],
                                                     world: World, homes: Homes) -> None:
    b_user = await world.user("patient", patient_id=homes.b.id)
    a_user = await world.user("patient", patient_id=homes.a.id)
    b_token = await world.token(b_user["username"])
    a_token = await world.token(a_user["username"])
    await homes.move(homes.b)
    page = await client.get(f"/devices/{homes.device}",
                            headers={**homes.headers, "Accept-Language": "it"})
    assert page.status == 200, await page.text()
    html = await page.text()
    assert "Chi ha avuto questo dispositivo" in html
    rows = html.split("data-assignments", 1)[1]
    # newest first: B now, then A until the move
    assert rows.index(_name(homes.b)) < rows.index(_name(homes.a))
    assert "ad oggi" in rows
    # the patient page links the device to its page
    patient_page = await (await client.get(f"/patients/{homes.b.id}",
                                           headers=homes.headers)).text()
    assert f'href="/devices/{homes.device}"' in patient_page
    # B's patient sees their own device's page, without A's name
    own = await client.get(f"/devices/{homes.device}",
                           headers={**b_token, "Accept-Language": "en"})
    assert own.status == 200, await own.text()
    text = await own.text()
    assert "Another patient" in text and _name(homes.a) not in text
    # A's patient may no longer open the page of a device that is not theirs now
    refused = await client.get(f"/devices/{homes.device}", headers=a_token)
    assert refused.status in (403, 404)
