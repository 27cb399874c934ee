"""The population view (/population and GET /api/v1/population): patients ranked by need."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from telemed import keys
from telemed.db.models import Alert, Consent, Device, Patient
from tests.conftest import World
from tests.helpers.pages import log_in

API = "/api/v1/population"


async def _alert(world: World, patient: Patient, severity: str, kind: str = "threshold",
                 value: float | None = None, minutes: int = 10) -> None:
    async with world.app[keys.SESSIONS]() as session:
        session.add(Alert(patient_id=patient.id, rule_key=f"{kind}:{severity}:{minutes}",
                          kind=kind, severity=severity, status="open", value=value,
                          detail="-", opened_at=datetime.now(UTC) - timedelta(minutes=minutes)))
        await session.commit()


async def _device(world: World, patient: Patient, days: float) -> None:
    async with world.app[keys.SESSIONS]() as session:
        session.add(Device(serial=f"SN-{patient.id}", kind="pulse_oximeter",
                           patient_id=patient.id,
                           last_seen=datetime.now(UTC) - timedelta(days=days)))
        await session.commit()


async def _region(world: World) -> dict[str, Any]:
    nurse = await world.user("nurse")
    doctor = await world.user("doctor")
    team = [nurse["id"], doctor["id"]]
    critical = await world.patient(team=team)
    await _alert(world, critical, "critical")
    news = await world.patient(team=team)
    await _alert(world, news, "warning", "news2", value=6)
    silent = await world.patient(team=team)
    await _device(world, silent, days=5)
    fine = await world.patient(team=team)
    await _device(world, fine, days=0.1)
    stranger = await world.patient(team=[(await world.user("nurse"))["id"]])
    await _alert(world, stranger, "critical")
    withdrew = await world.patient(team=team)
    await _alert(world, withdrew, "critical")
    async with world.app[keys.SESSIONS]() as session:
        session.add(Consent(patient_id=withdrew.id, granted=False, recorded_by=doctor["id"]))
        await session.commit()
    return {"nurse": nurse, "doctor": doctor, "critical": critical, "news": news,
            "silent": silent, "fine": fine, "stranger": stranger, "withdrew": withdrew}


async def test_patients_ranked_by_need_with_counts(world: World) -> None:
    r = await _region(world)
    headers = await world.token(r["nurse"]["username"])
    resp = await world.client.get(API, headers=headers)
    assert resp.status == 200
    body = await resp.json()
    ids = [item["patient"]["id"] for item in body["items"]]
    # critical first, then NEWS2 6, then the device silent for 5 days; not the patient
    # without needs, not another team's, not the one who withdrew consent
    assert ids == [r["critical"].id, r["news"].id, r["silent"].id]
    assert body["counts"]["critical"] == 1 and body["counts"]["news2"] == 1
    assert body["counts"]["stale"] == 1 and body["counts"]["any"] == 3
    assert body["items"][2]["needs"] == ["stale"]
    stale = await (await world.client.get(API, params={"need": "stale"},
                                           headers=headers)).json()
    assert [i["patient"]["id"] for i in stale["items"]] == [r["silent"].id]
    # a longer silence threshold: five days of silence are no longer "days without a reading"
    week = await (await world.client.get(API, params={"days": "7"}, headers=headers)).json()
    assert r["silent"].id not in [i["patient"]["id"] for i in week["items"]]


async def test_population_is_for_clinicians_only(world: World) -> None:
    r = await _region(world)
    admin = await world.user("admin")
    patient_user = await world.user("patient", patient_id=r["critical"].id)
    for user in (admin, patient_user):
        resp = await world.client.get(API, headers=await world.token(user["username"]))
        assert resp.status == 403, user["role"]
    assert (await world.client.get(API)).status == 401


async def test_population_page_in_italian(world: World) -> None:
    r = await _region(world)
    await log_in(world.client, r["doctor"]["username"])
    resp = await world.client.get("/population", headers={"Accept-Language": "it"})
    assert resp.status == 200
    page = await resp.text()
    assert "Popolazione" in page and "Allerte critiche" in page
    assert page.index(r["critical"].id) < page.index(r["news"].id) < page.index(r["silent"].id)
    assert r["stranger"].id not in page and r["withdrew"].id not in page
