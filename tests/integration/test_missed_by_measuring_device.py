"""A missed measurement is classified by the devices that measure the metric (#10, item 15).

A dead scale beside a live pulse oximeter: the missed weight is `device_offline`, not
`patient_skipped`; the oximeter's missed SpO2 in the same pass is `patient_skipped`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestClient
from sqlmodel import col, update

from telemed import keys
from telemed.db.models import Device
from telemed.services import rules
from tests.conftest import World
from tests.integration.monitoring import add_device, add_plan, alerts_of


async def _seen(world: World, device_id: str, at: datetime) -> None:
    async with world.app[keys.SESSIONS]() as session:
        await session.exec(update(Device).where(col(Device.id) == device_id)
                           .values(last_seen=at, status="online"))
        await session.commit()


async def test_each_missed_metric_asks_its_own_device(client: TestClient[Any, Any],
                                                      world: World) -> None:
    app = world.app
    doctor = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    rome = ZoneInfo("Europe/Rome")
    due = datetime.combine(datetime.now(rome).date(), datetime.min.time(), rome).replace(hour=8)
    schedule = {"times": ["08:00"], "tolerance_minutes": 30}
    plan = await add_plan(app, patient.id, doctor["id"], {"monitoring": [
        {"metric": "body_weight", "schedule": schedule},
        {"metric": "spo2", "schedule": schedule},
        {"metric": "blood_glucose", "schedule": schedule}]})
    async with app[keys.SESSIONS]() as session:
        plan.activated_at = (due - timedelta(hours=2)).astimezone(UTC)
        session.add(plan)
        await session.commit()
    scale = await add_device(app, patient.id, kind="scale")
    oximeter = await add_device(app, patient.id, kind="pulse_oximeter")
    await _seen(world, scale, (due - timedelta(days=2)).astimezone(UTC))  # dead for days
    await _seen(world, oximeter, (due + timedelta(minutes=10)).astimezone(UTC))  # alive
    async with app[keys.SESSIONS]() as session:
        await rules.run_jobs(session, (due + timedelta(minutes=45)).astimezone(UTC))
        await session.commit()
    reasons = {a.metric: (a.detail_args or {}).get("reason")
               for a in await alerts_of(app, patient.id) if a.kind == "missed_measurement"}
    assert reasons == {"body_weight": "device_offline",  # the scale is off, not the patient
                       "spo2": "patient_skipped",  # the oximeter was up: nobody measured
                       "blood_glucose": "device_offline"}  # no glucometer at all
