"""The retained ``config`` topic of each device: the measurement schedule of the active plan."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import Device
from telemed.domain.careplans import TimedSchedule
from telemed.services.context import PatientContext, load_patient_context


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
    stmt = select(Device).where(col(Device.revoked_at).is_(None))
    if device_id is not None:
        stmt = stmt.where(Device.id == device_id)
    if patient_id is not None:
        stmt = stmt.where(Device.patient_id == patient_id)
    devices = list((await session.exec(stmt)).all())
    contexts: dict[str, PatientContext | None] = {}
    out: list[tuple[str, dict[str, Any]]] = []
    for device in devices:
        ctx = None
        if device.patient_id is not None:
            if device.patient_id not in contexts:
                contexts[device.patient_id] = await load_patient_context(session,
                                                                         device.patient_id)
            ctx = contexts[device.patient_id]
        out.append((device.id, config_payload(ctx)))
    return out
