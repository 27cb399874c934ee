"""The events other parts of the platform publish for telemonitoring (one call each).

- ``careplan_changed`` after a plan is activated, edited (new version) or completed: ingest
  workers drop their cached plan and republish the patient's devices' ``config`` topics.
- ``device_changed`` after a device is registered, reassigned, revoked or given new
  credentials: ingest workers drop the cached device and republish its ``config``.
"""

from __future__ import annotations

from telemed.bus.base import CAREPLANS, DEVICES, EventBus


async def careplan_changed(bus: EventBus, patient_id: str, plan_id: str | None = None,
                           version: int | None = None) -> None:
    await bus.publish(CAREPLANS, {"patient_id": patient_id, "plan_id": plan_id,
                                  "version": version})


async def device_changed(bus: EventBus, device_id: str, patient_id: str | None) -> None:
    await bus.publish(DEVICES, {"device_id": device_id, "patient_id": patient_id})
