"""One batch, one transaction: check devices, store readings, run rules, keep device health.

The batch's patients are locked first (`telemed.db.locks`). A message whose patient another
worker holds is *deferred*: left out of this batch, unsettled, for the writer to try again in
its next one; after `MAX_DEFERRALS` tries the batch waits for that patient instead. The
devices' rows are updated last, in id order, so their row locks are held only for the commit
and never deadlock.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.locks import lock_patients
from telemed.domain.senml import Rejection
from telemed.ingest.envelope import Envelope
from telemed.services import rules
from telemed.services.alerts import AlertChange
from telemed.services.context import ContextCache
from telemed.services.observations import (
    DeviceSeen,
    NewReading,
    insert_readings,
    record_device_activity,
)

log = logging.getLogger("telemed.ingest")

STATUS_VALUES = ("online", "offline")
MAX_DEFERRALS = 20


@dataclass(slots=True)
class BatchResult:
    """What a committed batch did (outcomes are written into each envelope)."""

    stored: list[NewReading] = field(default_factory=list)
    changes: list[AlertChange] = field(default_factory=list)
    deferred: list[Envelope] = field(default_factory=list)  # not done: try again later


def _device_rejection(code: str, message: str) -> Rejection:
    return Rejection(None, code, message)


async def store_batch(
    session: AsyncSession, cache: ContextCache, batch: Sequence[Envelope]
) -> BatchResult:
    """Do the work of ``batch`` in the session's transaction (the caller commits)."""
    result = BatchResult()
    candidates: list[NewReading] = []
    owners: list[Envelope] = []
    seen: dict[str, DeviceSeen] = {}
    batch = await _lock_or_defer(session, cache, batch, result)
    for envelope in batch:
        envelope.outcome.accepted = envelope.outcome.duplicates = 0
        envelope.outcome.rejections = []
        device = await cache.device(session, envelope.device_id)
        if device is None:
            envelope.outcome.rejections.append(_device_rejection(
                "unknown_device", "This device is not registered."))
            continue
        if device.revoked:
            envelope.outcome.rejections.append(_device_rejection(
                "device_revoked", "This device has been revoked."))
            continue
        previous = seen.get(device.id)
        last_seen = envelope.received_at
        if previous is not None and previous.last_seen > last_seen:
            last_seen = previous.last_seen
        if envelope.kind == "status":
            text = envelope.payload.decode("utf-8", "replace").strip().strip('"').lower()
            status = text if text in STATUS_VALUES else None
            if status is None:
                envelope.outcome.rejections.append(_device_rejection(
                    "invalid_status", 'The status must be "online" or "offline".'))
            seen[device.id] = DeviceSeen(device.id, last_seen, status,
                                         previous.battery if previous else None)
            continue
        status = "online"
        battery = previous.battery if previous else None
        decoded = envelope.decoded
        assert decoded is not None
        envelope.outcome.rejections.extend(decoded.rejections)
        if device.patient_id is None:
            if decoded.readings:
                envelope.outcome.rejections.append(_device_rejection(
                    "no_patient", "This device is not assigned to a patient."))
            seen[device.id] = DeviceSeen(device.id, last_seen, status, battery)
            continue
        for reading in decoded.readings:
            if reading.metric == "battery":
                battery = reading.value
            candidates.append(NewReading(
                device.patient_id, device.id, reading.metric, reading.value, reading.unit,
                reading.time, envelope.received_at, reading.late))
            owners.append(envelope)
        seen[device.id] = DeviceSeen(device.id, last_seen, status, battery)

    inserted = await insert_readings(session, candidates)

    by_patient: dict[str, list[NewReading]] = defaultdict(list)
    counted: set[tuple[str, str, object]] = set()
    for candidate, envelope in zip(candidates, owners, strict=True):
        key = candidate.key
        if key in inserted and key not in counted:
            counted.add(key)
            envelope.outcome.accepted += 1
            result.stored.append(candidate)
            by_patient[candidate.patient_id].append(candidate)
        else:
            envelope.outcome.duplicates += 1

    work = []
    for patient_id, readings in by_patient.items():
        ctx = await cache.patient(session, patient_id)
        if ctx is not None:
            work.append((ctx, readings))
    result.changes += await rules.evaluate_batch(session, work)
    await record_device_activity(session, seen.values())
    return result


async def _lock_or_defer(session: AsyncSession, cache: ContextCache,
                         batch: Sequence[Envelope], result: BatchResult) -> list[Envelope]:
    """Lock the batch's patients; the messages of patients busy elsewhere go to `deferred`."""
    await cache.prefetch(session, (envelope.device_id for envelope in batch))
    patient_of: dict[int, str] = {}
    for envelope in batch:
        if envelope.kind == "readings":
            device = await cache.device(session, envelope.device_id)
            if device is not None and device.patient_id is not None and not device.revoked:
                patient_of[id(envelope)] = device.patient_id
    overdue = {patient_of[id(e)] for e in batch
               if id(e) in patient_of and e.deferrals >= MAX_DEFERRALS}
    busy = await lock_patients(session, patient_of.values(), wait_for=overdue)
    if not busy:
        return list(batch)
    kept: list[Envelope] = []
    for envelope in batch:
        if patient_of.get(id(envelope)) in busy:
            envelope.deferrals += 1
            result.deferred.append(envelope)
        else:
            kept.append(envelope)
    return kept
