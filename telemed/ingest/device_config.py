"""The retained ``config`` topic of each device: the measurement schedule of the active plan."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, type_coerce
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import CarePlan, Device, Patient
from telemed.domain.careplans import CarePlanContent, TimedSchedule
from telemed.domain.device_kinds import MANUAL_KIND
from telemed.services.context import PlanRef, SharedContents


def config_payload(timezone: str | None, plan: PlanRef | None,
                   content: CarePlanContent | None) -> dict[str, Any]:
    """What a device needs to remind its patient: metrics, local times, tolerance, zone
    (``timezone`` None: the device has no patient)."""
    return {
        "careplan_id": plan.plan_id if plan is not None else None,
        "careplan_version": plan.version if plan is not None else None,
        "timezone": timezone,
        "measurements": _measurements(content),
        "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _measurements(content: CarePlanContent | None) -> list[dict[str, Any]]:
    measurements: list[dict[str, Any]] = []
    if content is not None:
        for entry in content.monitoring:
            if isinstance(entry.schedule, TimedSchedule):
                measurements.append({"metric": entry.metric, **entry.schedule.to_dict()})
            else:
                measurements.append({"metric": entry.metric, "continuous": True})
    return measurements


async def device_configs(
    session: AsyncSession, *, device_id: str | None = None, patient_id: str | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """(device id, config payload) for one device, one patient's devices, or every device.

    Columns, not objects (the worker sends every device's config when it starts); a plan's
    content is parsed once per distinct stored text."""
    plans = (
        select(CarePlan)
        .where(CarePlan.status == "active")
        .where(col(CarePlan.is_current))
        .subquery()
    )
    plan = aliased(CarePlan, plans)
    stmt = (
        sa_select(col(Device.id), col(Patient.timezone), col(plan.plan_id), col(plan.version),
                  type_coerce(col(plan.content), String))
        .outerjoin(Patient, col(Patient.id) == col(Device.patient_id))
        .outerjoin(plan, col(plan.patient_id) == col(Device.patient_id))
        .where(col(Device.revoked_at).is_(None))
        .where(col(Device.kind) != MANUAL_KIND)
    )
    if device_id is not None:
        stmt = stmt.where(col(Device.id) == device_id)
    if patient_id is not None:
        stmt = stmt.where(col(Device.patient_id) == patient_id)
    parsed = SharedContents()
    out: list[tuple[str, dict[str, Any]]] = []
    rows = (await (await session.connection()).execute(stmt)).all()
    for target, timezone, plan_id, version, stored in rows:
        ref = PlanRef(plan_id, version) if plan_id is not None else None
        content = parsed.of_stored(plan_id, version, stored) if ref is not None else None
        out.append((target, config_payload(timezone, ref, content)))
    return out
