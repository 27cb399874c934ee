"""The retained ``config`` topic of each device: the measurement schedule of the active plan."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import CarePlan, Device, Patient
from telemed.domain.careplans import TimedSchedule
from telemed.domain.device_kinds import MANUAL_KIND
from telemed.services.context import PatientContext, PlanRef, SharedContents


def config_payload(ctx: PatientContext | None) -> dict[str, Any]:
    """What a device needs to remind its patient: metrics, local times, tolerance, zone."""
    measurements: list[dict[str, Any]] = []
    if ctx is not None and ctx.content is not None:
        for entry in ctx.content.monitoring:
            if isinstance(entry.schedule, TimedSchedule):
                measurements.append({"metric": entry.metric, **entry.schedule.to_dict()})
            else:
                measurements.append({"metric": entry.metric, "continuous": True})
    return {
        "careplan_id": ctx.plan_id if ctx is not None else None,
        "careplan_version": ctx.plan_version if ctx is not None else None,
        "timezone": ctx.patient.timezone if ctx is not None else None,
        "measurements": measurements,
        "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


async def device_configs(
    session: AsyncSession, *, device_id: str | None = None, patient_id: str | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """(device id, config payload) for one device, one patient's devices, or every device."""
    plans = (
        select(CarePlan)
        .where(CarePlan.status == "active")
        .where(col(CarePlan.is_current))
        .subquery()
    )
    plan = aliased(CarePlan, plans)
    stmt = (
        select(Device.id, Patient, plan)
        .outerjoin(Patient, col(Patient.id) == col(Device.patient_id))
        .outerjoin(plan, col(plan.patient_id) == col(Device.patient_id))
        .where(col(Device.revoked_at).is_(None))
        .where(Device.kind != MANUAL_KIND)
    )
    if device_id is not None:
        stmt = stmt.where(Device.id == device_id)
    if patient_id is not None:
        stmt = stmt.where(Device.patient_id == patient_id)
    contents: dict[str, PatientContext] = {}
    parsed = SharedContents()
    out: list[tuple[str, dict[str, Any]]] = []
    for target, patient, active in (await session.exec(stmt)).all():
        ctx = None
        if patient is not None:
            ctx = contents.get(patient.id)
            if ctx is None:
                ctx = PatientContext(patient, PlanRef.of(active), parsed.of(active))
                contents[patient.id] = ctx
        out.append((target, config_payload(ctx)))
    return out
