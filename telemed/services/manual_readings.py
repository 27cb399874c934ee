"""Manual readings (CONTRACT §7): a person types a reading in instead of a device sending it.

The reading takes the devices' road: a SenML pack, decoded and validated by
`telemed.domain.senml` and `telemed.domain.units`, stored by the ingest pipeline's batch
writer (idempotent on source, metric and time) and evaluated by the same rules in the same
transaction. It is filed under the patient's one virtual device of kind ``manual``
(`telemed.domain.device_kinds.MANUAL_KIND`, made on first use and assigned to the patient
since long before any accepted reading), and stored with ``entered_by``: the patient, a
delegate allowed to act, or a clinician of the care team.

The pipeline belongs to the ingest package (an edge); it hands this service a
`ReadingSink` under `READING_SINK` when it starts, so pages and the API reach it through
here.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from aiohttp import web
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.engine import SessionFactory
from telemed.db.models import Device, DeviceAssignment
from telemed.domain.audit_reasons import because
from telemed.domain.device_kinds import MANUAL_KIND
from telemed.domain.senml import Rejection
from telemed.principal import Principal
from telemed.services.access import authorize_patient
from telemed.services.context import load_patient_context
from telemed.services.delegates import may_act

# Assigned since long before the oldest reading the decoder accepts (30 days).
_SINCE = datetime(2000, 1, 1, tzinfo=UTC)


class IngestResult(Protocol):
    """What the pipeline says of a pack once its batch is committed."""

    accepted: int
    duplicates: int
    rejections: list[Rejection]


class ReadingSink(Protocol):
    """The ingest pipeline's door for manual packs (set by `telemed.ingest.setup`)."""

    def __call__(self, device_id: str, payload: bytes,
                 entered_by: str) -> Awaitable[IngestResult]: ...


READING_SINK: web.AppKey[ReadingSink] = web.AppKey("reading_sink")


@dataclass(frozen=True, slots=True)
class Entry:
    """One reading as a person typed it: metric, value and the unit they use."""

    metric: str
    value: float
    unit: str


def pack_of(entries: Sequence[Entry], at: datetime) -> bytes:
    """A SenML pack of the entries, all taken at ``at``."""
    seconds = at.timestamp()
    return json.dumps([{"n": e.metric, "v": e.value, "u": e.unit, "t": seconds}
                       for e in entries]).encode()


async def manual_source(session: AsyncSession, patient_id: str) -> str:
    """The id of the patient's virtual ``manual`` device (created on first use)."""
    serial = f"manual-{patient_id}"
    found = (await session.exec(select(Device.id).where(Device.serial == serial))).first()
    if found is not None:
        return found
    device = Device(serial=serial, kind=MANUAL_KIND, patient_id=patient_id, status="online")
    session.add(device)
    await session.flush()
    session.add(DeviceAssignment(device_id=device.id, patient_id=patient_id, valid_from=_SINCE))
    await session.flush()
    return device.id


async def prepare(session: AsyncSession, who: Principal, patient_id: str, *,
                  request_id: str | None = None) -> str:
    """Check that ``who`` may enter readings for the patient (audited) and return the
    manual source's device id; commits."""
    await authorize_patient(session, who, patient_id, action="create", resource="observation",
                            reason=because("manual_reading"), request_id=request_id)
    device_id = await manual_source(session, patient_id)
    await session.commit()
    return device_id


async def form_metrics(session: AsyncSession, who: Principal, patient_id: str, *,
                       request_id: str | None = None) -> list[str]:
    """The metrics of the patient's active plan, for the forms of someone who may enter
    readings for them (403 for anyone else, audited)."""
    if not (who.patient_id == patient_id and who.role == "patient") and not (
            who.role == "patient" and await may_act(session, patient_id, who.user_id)):
        # not theirs to fill in: the same check, refused and audited, as the post would be
        await authorize_patient(session, who, patient_id, action="create",
                                resource="observation", reason=because("manual_reading_form"),
                                request_id=request_id)
    context = await load_patient_context(session, patient_id)
    await session.commit()
    if context is None or context.content is None:
        return []
    return [entry.metric for entry in context.content.monitoring]


def result_out(result: IngestResult) -> dict[str, object]:
    """The API's answer: as for a device's pack over HTTP."""
    return {"accepted": result.accepted, "duplicates": result.duplicates,
            "rejected": [r.to_dict() for r in result.rejections]}


async def enter(sessions: SessionFactory, sink: ReadingSink, who: Principal, patient_id: str,
                payload: bytes, *, request_id: str | None = None) -> IngestResult:
    """Check access, then send ``payload`` (a SenML pack) through the pipeline as typed in
    by ``who``; returns once its batch is committed and its rules evaluated."""
    async with sessions() as session:
        device_id = await prepare(session, who, patient_id, request_id=request_id)
    return await sink(device_id, payload, who.user_id)
