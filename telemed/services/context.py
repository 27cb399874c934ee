"""What the rules need to know about a patient and a device, with small TTL caches.

The ingest hot path looks up the same devices and care plans for every batch; the caches
keep them for ``ttl`` seconds and are invalidated at once by bus events (``devices``,
``careplans``) so a revoked device or a new plan version takes effect on the next batch.
The TTL bounds staleness when an event is missed (another process without a shared bus).
A region's devices each send now and then, so most lookups of a batch miss: `prefetch`
loads every missing device, patient and active plan of a batch in three queries instead of
three per message.

Who had a device when (`histories`) is not cached: it decides whose record a reading goes
to, so each batch reads the intervals of its devices afresh, in one query.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import CarePlan, CareTeamMember, Device, DeviceAssignment, Patient, User
from telemed.domain.assignments import Assignment, History
from telemed.domain.careplans import CarePlanContent, parse_careplan_content
from telemed.domain.errors import DomainValidationError
from telemed.services.careplans import active_careplan

log = logging.getLogger("telemed.rules")

DEFAULT_TTL = 30.0


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """A device as ingestion sees it (``patient_id``: its current patient, which never decides
    whose a reading is; `load_histories` does)."""

    id: str
    patient_id: str | None
    revoked: bool


@dataclass(frozen=True, slots=True)
class PatientContext:
    """A patient, the active care plan version and its parsed content (None: defaults)."""

    patient: Patient
    plan: CarePlan | None
    content: CarePlanContent | None

    @property
    def patient_id(self) -> str:
        return self.patient.id

    @property
    def plan_id(self) -> str | None:
        return self.plan.plan_id if self.plan is not None else None

    @property
    def plan_version(self) -> int | None:
        return self.plan.version if self.plan is not None else None


def plan_content(plan: CarePlan | None) -> CarePlanContent | None:
    """The parsed content of a stored plan (None, with a log line, when unreadable)."""
    if plan is None:
        return None
    try:
        return parse_careplan_content(plan.content)
    except DomainValidationError as exc:
        log.error("care plan %s v%s has invalid content (%s); defaults apply",
                  plan.plan_id, plan.version, exc)
        return None


class SharedContents:
    """Parsed plan contents, shared by the plans made from the same template.

    A region's plans mostly come from a few templates: each distinct content is parsed once
    (contents are immutable values), keyed by its canonical JSON text. Bounded: past
    ``limit`` distinct contents it starts afresh."""

    def __init__(self, limit: int = 10_000) -> None:
        self._limit = limit
        self._by_text: dict[str, CarePlanContent | None] = {}

    def of(self, plan: CarePlan | None) -> CarePlanContent | None:
        if plan is None:
            return None
        same = json.dumps(plan.content, sort_keys=True, default=str)
        if same not in self._by_text:
            if len(self._by_text) >= self._limit:
                self._by_text.clear()
            self._by_text[same] = plan_content(plan)
        return self._by_text[same]


async def load_patient_context(session: AsyncSession, patient_id: str) -> PatientContext | None:
    """Patient + active plan, straight from the database."""
    patient = await session.get(Patient, patient_id)
    if patient is None:
        return None
    plan = await active_careplan(session, patient_id)
    return PatientContext(patient, plan, plan_content(plan))


async def load_device(session: AsyncSession, device_id: str) -> DeviceInfo | None:
    return _device_info(await session.get(Device, device_id))


def _device_info(device: Device | None) -> DeviceInfo | None:
    if device is None:
        return None
    return _info(device.id, device.patient_id, device.revoked_at, device.status)


def _info(device_id: str, patient_id: str | None, revoked_at: object, status: str) -> DeviceInfo:
    return DeviceInfo(device_id, patient_id, revoked_at is not None or status == "revoked")


async def load_histories(session: AsyncSession,
                         device_ids: Iterable[str]) -> dict[str, History]:
    """The assignment history of each device, in one query (a device without one: absent)."""
    wanted = sorted(set(device_ids))
    if not wanted:
        return {}
    result = await session.exec(
        select(DeviceAssignment.device_id, DeviceAssignment.patient_id,
               DeviceAssignment.valid_from, DeviceAssignment.valid_until)
        .where(col(DeviceAssignment.device_id).in_(wanted)))
    intervals: dict[str, list[Assignment]] = {}
    for device_id, patient_id, start, end in result.all():
        intervals.setdefault(device_id, []).append(Assignment(start, end, patient_id))
    histories: dict[str, History] = {}
    for device_id, items in intervals.items():
        try:
            histories[device_id] = History.of(items)
        except ValueError as exc:  # never written so; refuse rather than guess the owner
            log.error("device %s has an inconsistent assignment history (%s); its readings "
                      "are refused", device_id, exc)
    return histories


async def responsible_doctor(session: AsyncSession, patient_id: str) -> str | None:
    """The patient's responsible doctor, else any doctor of the care team."""
    result = await session.exec(
        select(CareTeamMember.user_id, CareTeamMember.responsible)
        .join(User, col(User.id) == col(CareTeamMember.user_id))
        .where(CareTeamMember.patient_id == patient_id)
        .where(User.role == "doctor")
        .where(col(User.active))
        .order_by(col(CareTeamMember.responsible).desc(), col(CareTeamMember.added_at))
    )
    row = result.first()
    return row[0] if row is not None else None


K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """A dict with per-entry expiry and explicit invalidation."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._data: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> tuple[bool, V | None]:
        hit = self._data.get(key)
        if hit is None or hit[0] < self._clock():
            return False, None
        return True, hit[1]

    async def through(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """The value of `key`: the cached one, else `load()`'s, cached."""
        found = self._data.get(key)
        if found is not None and found[0] >= self._clock():
            return found[1]
        value = await load()
        self.put(key, value)
        return value

    def put(self, key: K, value: V) -> None:
        if len(self._data) > 100_000:
            self._data.clear()
        self._data[key] = (self._clock() + self._ttl, value)

    def invalidate(self, key: K | None = None) -> None:
        if key is None:
            self._data.clear()
        else:
            self._data.pop(key, None)


class ContextCache:
    """Cached device and patient contexts for the ingest worker."""

    def __init__(self, ttl: float = DEFAULT_TTL) -> None:
        self.devices: TtlCache[str, DeviceInfo | None] = TtlCache(ttl)
        self.patients: TtlCache[str, PatientContext | None] = TtlCache(ttl)
        self.contents = SharedContents()

    async def device(self, session: AsyncSession, device_id: str) -> DeviceInfo | None:
        return await self.devices.through(device_id, lambda: load_device(session, device_id))

    async def patient(self, session: AsyncSession, patient_id: str) -> PatientContext | None:
        return await self.patients.through(
            patient_id, lambda: load_patient_context(session, patient_id))

    async def prefetch(self, session: AsyncSession, device_ids: Iterable[str]) -> None:
        """Load what the cache lacks for these devices and their patients, in three queries."""
        wanted = set(device_ids)
        missing = [d for d in wanted if not self.devices.get(d)[0]]
        if missing:
            rows = await session.exec(
                select(Device.id, Device.patient_id, Device.revoked_at, Device.status)
                .where(col(Device.id).in_(missing)))  # columns, not ORM objects: hot path
            found = {row[0]: _info(*row) for row in rows.all()}
            for device_id in missing:
                self.devices.put(device_id, found.get(device_id))
        patient_ids = set()
        for device_id in wanted:
            info = self.devices.get(device_id)[1]
            if info is not None and info.patient_id is not None:
                patient_ids.add(info.patient_id)
        await self.prefetch_patients(session, patient_ids)

    async def prefetch_patients(self, session: AsyncSession, patient_ids: Iterable[str]) -> None:
        """Load the patients (and active plans) the cache lacks, in two queries."""
        absent = [p for p in set(patient_ids) if not self.patients.get(p)[0]]
        if not absent:
            return
        patients = {p.id: p for p in (await session.exec(
            select(Patient).where(col(Patient.id).in_(absent)))).all()}
        plans = {plan.patient_id: plan for plan in (await session.exec(
            select(CarePlan).where(col(CarePlan.patient_id).in_(absent))
            .where(CarePlan.status == "active").where(col(CarePlan.is_current)))).all()}
        for patient_id in absent:
            patient = patients.get(patient_id)
            plan = plans.get(patient_id)
            self.patients.put(patient_id, None if patient is None else
                              PatientContext(patient, plan, self.contents.of(plan)))

    def invalidate_device(self, device_id: str | None = None) -> None:
        self.devices.invalidate(device_id)

    def invalidate_patient(self, patient_id: str | None = None) -> None:
        self.patients.invalidate(patient_id)
