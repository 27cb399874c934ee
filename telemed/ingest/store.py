"""One batch, one transaction: check devices, store readings, run rules, keep device health.

The batch's patients are locked first (`telemed.db.locks`). A message whose patient another
worker holds is *deferred*: left out of this batch, unsettled, for the writer to try again in
its next one; after `MAX_DEFERRALS` tries the batch waits for that patient instead. The
devices' rows are updated last, in id order, so their row locks are held only for the commit
and never deadlock.

Each reading is filed in the record of the patient the device was assigned to *at the
reading's time* (`telemed.domain.assignments`), from the device's assignment history read
once per batch: a device's offline buffer replayed after a reassignment goes to the patient
who took those readings, and so do their rules. A pack spanning a reassignment is split
record by record. A reading from before the device's first assignment (``before_assignment``)
or from a time it was assigned to nobody (``no_patient``) is refused, the rest of its pack
still counts.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.locks import lock_patients
from telemed.domain.assignments import MESSAGES, History, is_refusal
from telemed.domain.senml import Reading, Rejection
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


@dataclass(slots=True)
class Filing:
    """Where the readings of one message go: (reading, patient) pairs and the refused ones."""

    owned: list[tuple[Reading, str]] = field(default_factory=list)
    refused: list[Rejection] = field(default_factory=list)
    patients: set[str] = field(default_factory=set)  # of `owned`


def _device_rejection(code: str, message: str) -> Rejection:
    return Rejection(None, code, message)


def file_readings(readings: Sequence[Reading], history: History | None) -> Filing:
    """Attribute each reading to the patient who had the device at its time."""
    filing = Filing()
    for reading in readings:
        # a device never assigned to anybody: simply not a patient's device
        owner = history.patient_at(reading.time) if history is not None else "no_patient"
        if is_refusal(owner):
            filing.refused.append(Rejection(
                reading.record_index, owner, MESSAGES[owner],
                {"record_index": reading.record_index,
                 "time": reading.time.isoformat(timespec="seconds")}))
        else:
            filing.owned.append((reading, owner))
            filing.patients.add(owner)
    return filing


async def store_batch(
    session: AsyncSession, cache: ContextCache, batch: Sequence[Envelope]
) -> BatchResult:
    """Do the work of ``batch`` in the session's transaction (the caller commits)."""
    result = BatchResult()
    candidates: list[NewReading] = []
    owners: list[Envelope] = []
    seen: dict[str, DeviceSeen] = {}
    filings = await _file(session, cache, batch)
    batch = await _lock_or_defer(session, batch, filings, result)
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
        filing = filings.get(id(envelope), Filing())
        envelope.outcome.rejections.extend(filing.refused)
        for reading, patient_id in filing.owned:
            if reading.metric == "battery":
                battery = reading.value
            candidates.append(NewReading(
                patient_id, device.id, reading.metric, reading.value, reading.unit,
                reading.time, envelope.received_at, reading.late, envelope.entered_by))
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
    result.changes += await rules.evaluate_batch(session, work, cache.rule_states)
    await record_device_activity(session, seen.values())
    return result


async def _file(session: AsyncSession, cache: ContextCache,
                batch: Sequence[Envelope]) -> dict[int, Filing]:
    """File the readings of the batch's messages (by ``id`` of the envelope).

    Four queries at most whatever the batch holds: the devices' rows (afresh), the assignment
    histories the cache lacks or holds stale (`ContextCache.histories_of`), and the owning
    patients with their plans (cached).
    """
    await cache.refresh_devices(session, (envelope.device_id for envelope in batch))
    with_readings: list[Envelope] = []
    for envelope in batch:
        if envelope.kind == "readings" and envelope.decoded and envelope.decoded.readings:
            device = await cache.device(session, envelope.device_id)
            if device is not None and not device.revoked:
                with_readings.append(envelope)
    if not with_readings:
        return {}
    histories = await cache.histories_of(session, (e.device_id for e in with_readings))
    filings = {id(e): file_readings(e.decoded.readings if e.decoded else [],
                                    histories.get(e.device_id))
               for e in with_readings}
    await cache.prefetch_patients(session, {p for f in filings.values() for p in f.patients})
    return filings


async def _lock_or_defer(session: AsyncSession, batch: Sequence[Envelope],
                         filings: dict[int, Filing], result: BatchResult) -> list[Envelope]:
    """Lock the batch's patients; the messages of patients busy elsewhere go to `deferred`."""
    patients_of = {key: filing.patients for key, filing in filings.items() if filing.owned}
    overdue = {p for e in batch if id(e) in patients_of and e.deferrals >= MAX_DEFERRALS
               for p in patients_of[id(e)]}
    every = {p for patients in patients_of.values() for p in patients}
    busy = await lock_patients(session, every, wait_for=overdue)
    if not busy:
        return list(batch)
    kept: list[Envelope] = []
    for envelope in batch:
        if patients_of.get(id(envelope), set()) & busy:
            envelope.deferrals += 1
            result.deferred.append(envelope)
        else:
            kept.append(envelope)
    return kept
