"""Care-plan rules over stored readings and the periodic jobs (docs/telemonitoring.md, "Rules")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient
from sqlmodel import col, update

from telemed import keys
from telemed.db.models import Alert, Device
from telemed.services import rules
from tests.conftest import World
from tests.helpers.ward import Ward
from tests.integration.monitoring import add_plan, alerts_of, now_s

HOUR = 3600.0


@pytest.fixture
async def ward(world: World) -> Ward:
    return await Ward(world).build()


def _near(iso: str, epoch: float) -> bool:
    """An ISO 8601 time of the detail (seconds, UTC offset) is the reading's time."""
    at = datetime.fromisoformat(iso)
    return at.utcoffset() == timedelta(0) and abs(at.timestamp() - epoch) < 1.0


async def _plan(ward: Ward, **content: Any) -> None:
    await add_plan(ward.world.app, ward.patient.id, ward.doctor["id"], content)


async def _jobs(ward: Ward, now: datetime) -> list[str]:
    async with ward.world.app[keys.SESSIONS]() as session:
        changes = await rules.run_jobs(session, now)
        await session.commit()
    return [c.change for c in changes]


async def test_confirm_count_needs_consecutive_readings(client: TestClient[Any, Any],
                                                        ward: Ward) -> None:
    await _plan(ward, monitoring=[{"metric": "heart_rate", "schedule": {"continuous": True},
                                   "confirm_count": 2}])
    t = now_s()
    await ward.send(("heart_rate", 120, "/min", t - 30))
    await ward.send(("heart_rate", 80, "/min", t - 20))  # breaks the streak
    await ward.send(("heart_rate", 120, "/min", t - 10))
    assert await alerts_of(ward.world.app, ward.patient.id) == []
    await ward.send(("heart_rate", 121, "/min", t))
    [alert] = await alerts_of(ward.world.app, ward.patient.id)
    assert alert.severity == "warning" and alert.value == 121
    assert alert.detail_code == "threshold"
    assert alert.detail_args is not None
    at = alert.detail_args.pop("at")
    assert alert.detail_args == {"metric": "heart_rate", "value": 121.0, "unit": "/min",
                                 "zone": "warning_high"}
    assert _near(at, t)


async def test_hysteresis_then_recovered_flag_keeps_the_alert(client: TestClient[Any, Any],
                                                             ward: Ward) -> None:
    await _plan(ward, monitoring=[{"metric": "spo2", "schedule": {"continuous": True},
                                   "bands": {"critical_low": 88, "warning_low": 92},
                                   "hysteresis": 2}])
    t = now_s()
    await ward.send(("spo2", 90, "%", t - 30))
    await ward.send(("spo2", 93, "%", t - 20))  # in band but inside the margin
    [alert] = await alerts_of(ward.world.app, ward.patient.id)
    assert not alert.recovered
    await ward.send(("spo2", 95, "%", t - 10))
    [alert] = await alerts_of(ward.world.app, ward.patient.id)
    assert alert.recovered and alert.status == "open"
    assert alert.detail_code == "threshold_recovered" and alert.detail_args is not None
    assert alert.detail_args["value"] == 95 and alert.detail.startswith("Oxygen saturation back")
    await ward.send(("spo2", 91, "%", t))  # out again: the same alert, no longer recovered
    [again] = await alerts_of(ward.world.app, ward.patient.id)
    assert again.id == alert.id and not again.recovered
    assert again.detail_code == "threshold" and again.detail_args is not None
    assert again.detail_args["zone"] == "warning_low"


async def test_trend_with_a_late_reading_in_time_order(client: TestClient[Any, Any],
                                                       ward: Ward) -> None:
    await _plan(ward, monitoring=[{"metric": "body_weight", "schedule": {"times": ["08:00"]}}],
                trends=[{"metric": "body_weight", "delta": 2, "window_hours": 72}])
    t = now_s()
    await ward.send(("body_weight", 80.0, "kg", t - 96 * HOUR))  # outside the window
    await ward.send(("body_weight", 81.0, "kg", t))
    assert await alerts_of(ward.world.app, ward.patient.id) == []
    await ward.send(("body_weight", 78.9, "kg", t - 48 * HOUR))  # late: 78.9 → 81.0 in 48 h
    [alert] = await alerts_of(ward.world.app, ward.patient.id)
    assert alert.kind == "trend" and alert.metric == "body_weight"
    assert "+2.1 kg" in alert.detail
    assert alert.detail_code == "trend" and alert.detail_args is not None
    args = alert.detail_args
    assert (args["start_value"], args["end_value"], args["delta"], args["window_hours"]) == (
        78.9, 81.0, 2.0, 72)
    assert _near(args["start_time"], t - 48 * HOUR) and _near(args["end_time"], t)


async def test_news2_needs_all_five_parameters_within_an_hour(client: TestClient[Any, Any],
                                                              ward: Ward) -> None:
    await _plan(ward, news2={"enabled": True, "spo2_scale": 1, "on_oxygen": False},
                monitoring=[{"metric": m, "schedule": {"continuous": True}, "bands": {}}
                            for m in ("resp_rate", "spo2", "bp_systolic", "heart_rate",
                                      "body_temp")])
    t = now_s()
    # resp 22 (2) + spo2 95 (1) + sys 105 (1) + pulse 95 (1) + temp 37 (0) = 5 → warning
    await ward.send(("resp_rate", 22, "/min", t - 2 * HOUR))  # too old to count
    await ward.send(("spo2", 95, "%", t - 50 * 60), ("bp_systolic", 105, "mm[Hg]", t - 40 * 60),
                    ("heart_rate", 95, "/min", t - 30 * 60), ("body_temp", 37, "Cel", t))
    assert await alerts_of(ward.world.app, ward.patient.id) == []
    await ward.send(("resp_rate", 22, "/min", t - 10))
    [alert] = await alerts_of(ward.world.app, ward.patient.id)
    assert (alert.kind, alert.severity, alert.value) == ("news2", "warning", 5.0)
    assert alert.detail_code == "news2" and alert.detail_args is not None
    assert (alert.detail_args["total"], alert.detail_args["max_single"],
            alert.detail_args["risk"]) == (5, 2, "medium")
    await ward.send(("resp_rate", 26, "/min", t + 1))  # 3 + 1 + 1 + 1 = 6... plus
    await ward.send(("heart_rate", 135, "/min", t + 2))  # 3 + 1 + 1 + 3 + 0 = 8 → critical
    [alert] = await alerts_of(ward.world.app, ward.patient.id)
    assert alert.severity == "critical"


async def test_missed_measurement_says_offline_or_skipped(client: TestClient[Any, Any],
                                                          ward: Ward) -> None:
    app = ward.world.app
    rome = ZoneInfo("Europe/Rome")
    today = datetime.now(rome).date()
    due = datetime.combine(today, datetime.min.time(), rome).replace(hour=8)
    await add_plan(app, ward.patient.id, ward.doctor["id"], {"monitoring": [
        {"metric": "body_weight", "schedule": {"times": ["08:00"], "tolerance_minutes": 30}}]})
    async with app[keys.SESSIONS]() as session:
        from sqlmodel import select

        from telemed.db.models import CarePlan

        plan = (await session.exec(select(CarePlan))).one()
        plan.activated_at = (due - timedelta(hours=2)).astimezone(UTC)
        session.add(plan)
        await session.commit()
    # The device was heard before the window and not since: offline.
    await _set_last_seen(ward, (due - timedelta(hours=1)).astimezone(UTC))
    changes = await _jobs(ward, (due + timedelta(minutes=45)).astimezone(UTC))
    assert "opened" in changes
    [alert] = [a for a in await alerts_of(app, ward.patient.id)
               if a.kind == "missed_measurement"]
    assert "[device_offline]" in alert.detail and alert.metric == "body_weight"
    assert alert.detail_code == "missed_measurement" and alert.detail_args is not None
    assert alert.detail_args["reason"] == "device_offline"
    assert datetime.fromisoformat(alert.detail_args["due"]) == due
    assert alert.detail_args["local_time"] == "08:00"
    assert await _jobs(ward, (due + timedelta(minutes=50)).astimezone(UTC)) == []  # checked


async def test_missed_measurement_patient_skipped(client: TestClient[Any, Any],
                                                  ward: Ward) -> None:
    app = ward.world.app
    rome = ZoneInfo("Europe/Rome")
    due = datetime.combine(datetime.now(rome).date(), datetime.min.time(), rome).replace(hour=8)
    plan = await add_plan(app, ward.patient.id, ward.doctor["id"], {"monitoring": [
        {"metric": "body_weight", "schedule": {"times": ["08:00"], "tolerance_minutes": 30}}]})
    async with app[keys.SESSIONS]() as session:
        plan.activated_at = (due - timedelta(hours=2)).astimezone(UTC)
        session.add(plan)
        await session.commit()
    await _set_last_seen(ward, (due + timedelta(minutes=10)).astimezone(UTC))
    await _jobs(ward, (due + timedelta(minutes=45)).astimezone(UTC))
    [alert] = [a for a in await alerts_of(app, ward.patient.id)
               if a.kind == "missed_measurement"]
    assert "[patient_skipped]" in alert.detail
    assert alert.detail_args is not None and alert.detail_args["reason"] == "patient_skipped"


async def _set_last_seen(ward: Ward, at: datetime) -> None:
    async with ward.world.app[keys.SESSIONS]() as session:
        await session.exec(update(Device).where(col(Device.id) == ward.device)
                           .values(last_seen=at, status="online"))
        await session.commit()


async def test_silent_device_then_heard_again(client: TestClient[Any, Any],
                                              ward: Ward) -> None:
    await _plan(ward, silence_hours=6)
    now = datetime.now(UTC)
    await _set_last_seen(ward, now - timedelta(hours=7))
    await _jobs(ward, now)
    [alert] = await alerts_of(ward.world.app, ward.patient.id)
    assert alert.kind == "device_silent" and not alert.recovered
    assert alert.detail_code == "device_silent" and alert.detail_args is not None
    assert alert.detail_args["device_id"] == ward.device
    assert alert.detail_args["silence_hours"] == 6
    await ward.send(("battery", 80, "%EL", now_s()))
    await _jobs(ward, datetime.now(UTC))
    [alert] = await alerts_of(ward.world.app, ward.patient.id)
    assert alert.recovered and alert.status == "open"
    assert alert.detail_code == "device_heard_again" and alert.detail_args is not None
    assert alert.detail_args["device_id"] == ward.device


async def test_unacknowledged_critical_alert_escalates_to_the_doctor(
        client: TestClient[Any, Any], ward: Ward) -> None:
    await _plan(ward, escalate_after_minutes=10)
    async with ward.world.app[keys.SESSIONS]() as session:
        from telemed.db.models import CareTeamMember

        member = await session.get(CareTeamMember, (ward.patient.id, ward.doctor["id"]))
        assert member is not None
        member.responsible = True
        session.add(member)
        await session.commit()
    await ward.send(("heart_rate", 150, "/min", now_s()))
    [alert] = await alerts_of(ward.world.app, ward.patient.id)
    assert alert.severity == "critical"
    assert "escalated" not in await _jobs(ward, datetime.now(UTC) + timedelta(minutes=5))
    async with ward.world.app[keys.SESSIONS]() as session:
        changes = await rules.escalate_overdue(session, datetime.now(UTC)
                                               + timedelta(minutes=11))
        await session.commit()
    assert [c.alert["escalated_to"] for c in changes] == [ward.doctor["id"]]
    [alert] = await alerts_of(ward.world.app, ward.patient.id)
    assert alert.escalated


async def test_acknowledged_alerts_do_not_escalate(client: TestClient[Any, Any],
                                                   ward: Ward) -> None:
    await ward.send(("heart_rate", 150, "/min", now_s()))
    async with ward.world.app[keys.SESSIONS]() as session:
        await session.exec(update(Alert).values(status="acknowledged"))
        await session.commit()
    async with ward.world.app[keys.SESSIONS]() as session:
        changes = await rules.escalate_overdue(session, datetime.now(UTC) + timedelta(hours=1))
    assert changes == []
