"""What the rules need to know about a patient and a device, with small TTL caches.

The ingest hot path looks up the same devices and care plans for every batch; the caches
keep them for ``ttl`` seconds and are invalidated at once by bus events (``devices``,
``careplans``) so a revoked device or a new plan version takes effect on the next batch.
The TTL bounds staleness when an event is missed (another process without a shared bus).
A region's devices each send now and then, so most lookups of a batch miss: `prefetch`
loads every missing device, patient and active plan of a batch in two queries instead of
three per message.

Who had a device when (`histories`) decides whose record a reading goes to. The histories
are cached too, but never trusted blindly: each batch reads its devices' rows afresh (one
query of plain columns, which also keeps revocations current) and a cached history is used
only while its open interval names the patient the device row names and its newest interval
starts when the newest stored one does (read in the same query); a reassignment changes both
in one transaction, so the first batch after its commit reloads the history even before the
``devices`` event arrives, also when the device went A → B → A meanwhile.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import String, and_, or_, type_coerce
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import CarePlan, CareTeamMember, Device, DeviceAssignment, Patient, User
from telemed.domain.assignments import Assignment, History
from telemed.domain.careplans import CarePlanContent, parse_careplan_content
from telemed.domain.errors import DomainValidationError
from telemed.services.careplans import active_careplan
from telemed.services.rule_states import ParsedStates

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
class PlanRef:
    """Which care plan version applies (the content is `PatientContext.content`)."""

    plan_id: str
    version: int

    @classmethod
    def of(cls, plan: CarePlan | None) -> PlanRef | None:
        return None if plan is None else cls(plan.plan_id, plan.version)


@dataclass(frozen=True, slots=True)
class PatientContext:
    """A patient, the active care plan version and its parsed content (None: defaults)."""

    patient: Patient
    plan: PlanRef | None
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
    return _parsed(plan.plan_id, plan.version, plan.content)


def _parsed(plan_id: str, version: int, content: Any) -> CarePlanContent | None:
    try:
        return parse_careplan_content(content)
    except DomainValidationError as exc:
        log.error("care plan %s v%s has invalid content (%s); defaults apply",
                  plan_id, version, exc)
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
        return self.of_stored(plan.plan_id, plan.version, plan.content)

    def of_stored(self, plan_id: str, version: int, stored: Any) -> CarePlanContent | None:
        """The content of a plan read as its column's stored JSON text (no parse, no dump
        when that text was seen before; the same content written alike is the same text).
        A driver that hands back the parsed value instead: keyed by its canonical text."""
        if not isinstance(stored, str):
            same = json.dumps(stored, sort_keys=True, default=str)
            return self._lookup(same, lambda: _parsed(plan_id, version, stored))
        return self._lookup(stored, lambda: _parsed(plan_id, version, json.loads(stored)))

    def _lookup(self, key: str, parse: Callable[[], CarePlanContent | None]
                ) -> CarePlanContent | None:
        if key not in self._by_text:
            if len(self._by_text) >= self._limit:
                self._by_text.clear()
            self._by_text[key] = parse()
        return self._by_text[key]


async def load_patient_context(session: AsyncSession, patient_id: str) -> PatientContext | None:
    """Patient + active plan, straight from the database."""
    patient = await session.get(Patient, patient_id)
    if patient is None:
        return None
    plan = await active_careplan(session, patient_id)
    return PatientContext(patient, PlanRef.of(plan), plan_content(plan))


async def load_device(session: AsyncSession, device_id: str) -> DeviceInfo | None:
    return _device_info(await session.get(Device, device_id))


def _device_info(device: Device | None) -> DeviceInfo | None:
    if device is None:
        return None
    return _info(device.id, device.patient_id, device.revoked_at, device.status)


def _info(device_id: str, patient_id: str | None, revoked_at: object, status: str) -> DeviceInfo:
    return DeviceInfo(device_id, patient_id, revoked_at is not None or status == "revoked")


MISSING = datetime.min  # a device `refresh_devices` did not read: its history is reloaded


def _same_history(history: History | None, patient_id: str | None,
                  newest_start: datetime | None) -> bool:
    """Whether a cached history still holds: the same current patient as the device row and
    the same newest interval (any reassignment, even A → B → A, starts a new interval)."""
    if history is None:
        return patient_id is None and newest_start is None
    last = history.assignments[-1] if history.assignments else None
    return history.current == patient_id and (
        last.start if last is not None else None) == newest_start


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
        self.histories: TtlCache[str, History | None] = TtlCache(ttl)
        # the newest interval's start of each device `refresh_devices` read (None: no interval)
        self.newest_start: dict[str, datetime | None] = {}
        self.contents = SharedContents()
        self.rule_states = ParsedStates()  # threshold states parsed or written before

    async def device(self, session: AsyncSession, device_id: str) -> DeviceInfo | None:
        hit, info = self.devices.get(device_id)  # a batch's devices are read first: a hit
        if hit:
            return info
        return await self.devices.through(device_id, lambda: load_device(session, device_id))

    async def patient(self, session: AsyncSession, patient_id: str) -> PatientContext | None:
        hit, ctx = self.patients.get(patient_id)  # prefetched for the batch: a hit
        if hit:
            return ctx
        return await self.patients.through(
            patient_id, lambda: load_patient_context(session, patient_id))

    async def refresh_devices(self, session: AsyncSession, device_ids: Iterable[str]) -> None:
        """Read these devices' rows afresh (plain columns, one query) into the cache."""
        wanted = sorted(set(device_ids))
        if not wanted:
            return
        newest = (select(DeviceAssignment.valid_from)
                  .where(DeviceAssignment.device_id == Device.id)
                  .order_by(col(DeviceAssignment.valid_from).desc()).limit(1)
                  .scalar_subquery())
        rows = await session.exec(
            select(Device.id, Device.patient_id,
                   or_(col(Device.revoked_at).is_not(None), col(Device.status) == "revoked"),
                   newest)
            .where(col(Device.id).in_(wanted)))
        found: dict[str, DeviceInfo] = {}
        for device_id, patient_id, revoked, since in rows.all():
            found[device_id] = DeviceInfo(device_id, patient_id, bool(revoked))
            self.newest_start[device_id] = since
        for device_id in wanted:
            self.devices.put(device_id, found.get(device_id))
            if device_id not in found:
                self.newest_start.pop(device_id, None)

    async def histories_of(self, session: AsyncSession,
                           device_ids: Iterable[str]) -> dict[str, History]:
        """The assignment histories of devices `refresh_devices` just read.

        A cached history serves while its current patient is the device row's; the others
        are read in one query (`load_histories`)."""
        out: dict[str, History] = {}
        stale: list[str] = []
        for device_id in set(device_ids):
            info = self.devices.get(device_id)[1]
            hit, history = self.histories.get(device_id)
            if hit and info is not None and _same_history(
                    history, info.patient_id, self.newest_start.get(device_id, MISSING)):
                if history is not None:
                    out[device_id] = history
            else:
                stale.append(device_id)
        if stale:
            loaded = await load_histories(session, stale)
            for device_id in stale:
                history = loaded.get(device_id)
                self.histories.put(device_id, history)
                if history is not None:
                    out[device_id] = history
        return out

    async def prefetch(self, session: AsyncSession, device_ids: Iterable[str]) -> None:
        """Load what the cache lacks for these devices and their patients, in two queries."""
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
        """Load the patients (and active plans) the cache lacks, in one query.

        The plan comes as columns, its content as the stored JSON text (`SharedContents`
        parses each distinct text once): no plan object, no JSON round trip per patient."""
        absent = [p for p in set(patient_ids) if not self.patients.get(p)[0]]
        if not absent:
            return
        rows = await session.exec(
            select(Patient, CarePlan.plan_id, CarePlan.version,
                   type_coerce(col(CarePlan.content), String))
            .outerjoin(CarePlan, and_(col(CarePlan.patient_id) == col(Patient.id),
                                      col(CarePlan.status) == "active",
                                      col(CarePlan.is_current)))
            .where(col(Patient.id).in_(absent)))
        found: dict[str, PatientContext] = {}
        for patient, plan_id, version, stored in rows.all():
            if plan_id is None:
                found[patient.id] = PatientContext(patient, None, None)
                continue
            content = self.contents.of_stored(plan_id, version, stored)
            found[patient.id] = PatientContext(patient, PlanRef(plan_id, version), content)
        for patient_id in absent:
            self.patients.put(patient_id, found.get(patient_id))

    def invalidate_device(self, device_id: str | None = None) -> None:
        self.devices.invalidate(device_id)
        self.histories.invalidate(device_id)

    def invalidate_patient(self, patient_id: str | None = None) -> None:
        self.patients.invalidate(patient_id)
