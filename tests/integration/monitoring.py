"""Helpers for the telemonitoring tests: devices, care plans and SenML packs."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from sqlmodel import col, select

from telemed import keys
from telemed.db.models import Alert, AuditEvent, CarePlan, Device, DeviceAssignment, Observation
from telemed.db.types import new_id
from telemed.security import hash_password

DEVICE_PASSWORD = "device-secret-0123456789"


async def register_on_broker(app: web.Application, patient_id: str, *,
                             assigned_from: datetime | None = None) -> tuple[str, str]:
    """A device registered through the service, with its broker account: (id, password)."""
    from telemed.broker import BROKER
    from telemed.services.devices import register_device

    async with app[keys.SESSIONS]() as session:
        reg = await register_device(session, app[BROKER].dynsec, None,
                                    serial=f"SN-{new_id()[:12]}", kind="multi",
                                    patient_id=patient_id, assigned_from=assigned_from)
    return reg.device.id, reg.password


async def add_device(app: web.Application, patient_id: str | None, *, kind: str = "multi",
                     password: str = DEVICE_PASSWORD,
                     assigned_from: datetime | None = None) -> str:
    """A registered device stored directly (no broker needed).

    The patient has had it since ``assigned_from`` (default: 30 days ago, so readings of
    any accepted age are the patient's).
    """
    async with app[keys.SESSIONS]() as session:
        device = Device(serial=f"SN-{new_id()[:12]}", kind=kind, patient_id=patient_id,
                        secret_hash=hash_password(password))
        session.add(device)
        await session.flush()
        if patient_id is not None:
            session.add(DeviceAssignment(
                device_id=device.id, patient_id=patient_id,
                valid_from=assigned_from or datetime.now(UTC) - timedelta(days=30)))
        await session.commit()
        return device.id


async def add_plan(app: web.Application, patient_id: str, author_id: str,
                   content: dict[str, Any], *, status: str = "active") -> CarePlan:
    """An active care plan stored directly."""
    from telemed.domain.careplans import parse_careplan_content

    async with app[keys.SESSIONS]() as session:
        plan = CarePlan(plan_id=new_id(), version=1, patient_id=patient_id, status=status,
                        title="Telemonitoring", period_start=datetime.now(UTC).date(),
                        content=parse_careplan_content(content).to_dict(), created_by=author_id,
                        activated_at=datetime.now(UTC))
        session.add(plan)
        await session.commit()
        return plan


def basic(device_id: str, password: str = DEVICE_PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{device_id}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/senml+json"}


def pack(*records: tuple[str, float, str, float]) -> bytes:
    """A SenML pack of (metric, value, unit, epoch seconds)."""
    return json.dumps([{"n": m, "v": v, "u": u, "t": t} for m, v, u, t in records]).encode()


def now_s() -> float:
    return datetime.now(UTC).timestamp()


async def observations(app: web.Application, patient_id: str) -> list[Observation]:
    async with app[keys.SESSIONS]() as session:
        result = await session.exec(select(Observation)
                                    .where(Observation.patient_id == patient_id)
                                    .order_by(col(Observation.time)))
        return list(result.all())


async def alerts_of(app: web.Application, patient_id: str) -> list[Alert]:
    async with app[keys.SESSIONS]() as session:
        result = await session.exec(select(Alert).where(Alert.patient_id == patient_id)
                                    .order_by(col(Alert.seq)))
        return list(result.all())


async def audit_of(app: web.Application, resource_id: str) -> list[AuditEvent]:
    async with app[keys.SESSIONS]() as session:
        result = await session.exec(select(AuditEvent)
                                    .where(AuditEvent.resource_id == resource_id)
                                    .order_by(col(AuditEvent.id)))
        return list(result.all())
