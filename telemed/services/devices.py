"""Devices: registration with broker credentials, listing, reassignment, revocation, rotation.

Every change of a device's patient is kept as an interval of ``device_assignments``
(`telemed.domain.assignments`): registration opens the first, a reassignment closes the open
one and opens the next (no interval when the device is unassigned), revocation closes it. The
ingest files each reading by these intervals, never by the device's current patient alone.

The broker and the database stay consistent: the broker is changed first and the database
only when that worked (a failed broker call changes nothing and answers 503); a database
failure after a broker change is undone on the broker where that is possible.
Device passwords are shown once and stored only as argon2 hashes (hashed off the loop).
"""

from __future__ import annotations

import asyncio
import functools
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.broker import identities
from telemed.broker.dynsec import DynSecClient
from telemed.broker.errors import BrokerError
from telemed.bus.events import DeviceChanged
from telemed.db.events import record_event
from telemed.db.models import Device, DeviceAssignment, Patient
from telemed.db.types import utcnow
from telemed.domain import assignments as domain_assignments
from telemed.domain.audit_reasons import Reason, because
from telemed.domain.device_kinds import MANUAL_KIND
from telemed.errors import N_, ApiError, FieldError, conflict, invalid, not_found
from telemed.principal import Principal
from telemed.security import hash_password, verify_password
from telemed.services import audit, scope
from telemed.services.access import authorize_patient
from telemed.services.pagination import Page

KINDS = ("bp_cuff", "pulse_oximeter", "scale", "thermometer", "glucometer", "multi")
SERIAL_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,64}")

Action = Literal["read", "create", "update", "delete"]
MAX_BACKDATE = timedelta(days=30)  # as old as the readings the ingest accepts
# A new device's first assignment opens this long before its registration, so that a device
# whose clock runs a little behind is not refused its first readings (the ingest accepts
# readings up to 5 minutes ahead for the same reason). No other patient had the device then.
CLOCK_GRACE = timedelta(minutes=5)


@dataclass(frozen=True)
class Registration:
    """A device with the password it was just given (shown once, never stored)."""

    device: Device
    password: str = field(repr=False)


def broker_unavailable() -> ApiError:
    return ApiError(503, "broker_unavailable",
                    "The device broker is not available; nothing was changed. Try again shortly.")


def new_device_password() -> str:
    """A fresh random device password (192 bits)."""
    return secrets.token_urlsafe(24)


def check_serial(serial: str) -> str:
    """The serial, or 422: 1-64 characters among letters, digits and `. _ : -`."""
    if not isinstance(serial, str) or not SERIAL_PATTERN.fullmatch(serial):
        raise invalid({"serial": N_("Serial must be 1 to 64 characters: letters, digits, "
                                    "'.', '_', ':' or '-'.")})
    return serial


def check_kind(kind: str) -> str:
    """The kind, or 422 naming the accepted ones."""
    if kind not in KINDS:
        raise invalid({"kind": f"Kind must be one of: {', '.join(KINDS)}."})
    return kind


async def _patient_exists(session: AsyncSession, patient_id: str) -> None:
    if not patient_id or await session.get(Patient, patient_id) is None:
        raise invalid({"patient_id": N_("No such patient.")})


async def _authorize(session: AsyncSession, who: Principal | None, patient_id: str, *,
                     action: Action, device_id: str | None,
                     request_id: str | None, reason: Reason | None = None) -> None:
    """Audit and check access to a patient's devices.

    Care-team clinicians (and break-glass access) go through `authorize_patient`. Admins
    manage the device registry, which holds no clinical data; `who=None` is the operator
    at the command line. Both are audited here.
    """
    if who is not None and who.role != "admin":
        await authorize_patient(session, who, patient_id, action=action, resource="device",
                                resource_id=device_id, reason=reason, request_id=request_id)
        return
    if await session.get(Patient, patient_id) is None:
        raise not_found("Patient")
    if who is None:
        reason = reason.within("command_line_for") if reason else because("command_line")
    audit.record(session, actor=who, action=action, resource="device", patient_id=patient_id,
                 resource_id=device_id, request_id=request_id, reason=reason)


async def _load(session: AsyncSession, device_id: str, *, for_update: bool = False) -> Device:
    device = (await session.get(Device, device_id, with_for_update=for_update)
              if len(device_id) <= 32 else None)
    if device is None:
        raise not_found("Device")
    return device


def _require_admin_or_operator(who: Principal | None) -> None:
    if who is not None and who.role != "admin":
        raise not_found("Device")


def _require_active(device: Device) -> None:
    if device.revoked_at is not None:
        raise conflict("This device has been revoked.", "device_revoked")


def _require_broker(dynsec: DynSecClient | None) -> DynSecClient:
    if dynsec is None:
        raise broker_unavailable()
    return dynsec


async def register_device(
    session: AsyncSession,
    dynsec: DynSecClient | None,
    who: Principal | None,
    *,
    serial: str,
    kind: str,
    patient_id: str,
    assigned_from: datetime | None = None,
    request_id: str | None = None,
) -> Registration:
    """Register a patient's device and create its broker client; the password is returned once.

    The device's first assignment starts now (less `CLOCK_GRACE`), or at ``assigned_from``
    (at most 30 days ago) when the patient has had it since before its registration:
    readings timed before the start are refused as ``before_assignment``.
    """
    problems: dict[str, str | FieldError] = {}
    now = utcnow()
    if assigned_from is not None:
        if assigned_from.tzinfo is None or assigned_from.utcoffset() is None:
            problems["assigned_from"] = N_("Give the time with its UTC offset.")
        elif assigned_from > now or assigned_from < now - MAX_BACKDATE:
            problems["assigned_from"] = N_("The time must lie within the last 30 days.")
    for name, check, value in (("serial", check_serial, serial), ("kind", check_kind, kind)):
        try:
            check(value)
        except ApiError as exc:
            problems[name] = exc.problems[name]
    if problems:
        raise invalid(problems)
    await _patient_exists(session, patient_id)
    device = Device(serial=serial, kind=kind, patient_id=patient_id, status="offline")
    await _authorize(session, who, patient_id, action="create", device_id=device.id,
                     request_id=request_id)
    taken = await session.exec(select(Device.id).where(Device.serial == serial))
    if taken.first() is not None:
        raise conflict("A device with this serial is already registered.", "serial_taken")
    broker = _require_broker(dynsec)
    password = new_device_password()
    device.secret_hash = await asyncio.to_thread(hash_password, password)
    try:
        await identities.create_device(broker, device.id, password)
    except BrokerError:
        await identities.forget_device(broker, device.id)
        raise broker_unavailable() from None
    session.add(device)
    try:
        await session.flush()  # the device row before its first assignment (foreign key)
        session.add(DeviceAssignment(device_id=device.id, patient_id=patient_id,
                                     valid_from=assigned_from or now - CLOCK_GRACE,
                                     assigned_by=who.user_id if who else None))
        record_event(session, DeviceChanged(device.id, patient_id))
        await session.commit()
    except IntegrityError:
        await session.rollback()
        await identities.forget_device(broker, device.id)
        raise conflict("A device with this serial is already registered.",
                       "serial_taken") from None
    except BaseException:
        await identities.forget_device(broker, device.id)
        raise
    return Registration(device, password)


async def list_devices(
    session: AsyncSession,
    who: Principal,
    page: Page,
    *,
    patient_id: str | None = None,
    request_id: str | None = None,
) -> list[Device]:
    """The devices of the patients `who` may see, by serial (audited per patient)."""
    query = select(Device).where(Device.kind != MANUAL_KIND).order_by(Device.serial)
    if patient_id is not None:
        await _authorize(session, who, patient_id, action="read", device_id=None,
                         request_id=request_id)
        query = query.where(Device.patient_id == patient_id)
    else:
        visible = scope.visible(col(Device.patient_id), who)
        if visible is not None:
            query = query.where(visible)
    if page.after:
        query = query.where(Device.serial > str(page.after[0]))
    devices = list((await session.exec(query.limit(page.limit))).all())
    if patient_id is None:
        await audit.record_reads(session, actor=who, resource="device",
                                 reads=[(d.patient_id, None) for d in devices if d.patient_id],
                                 reason=because("list"), request_id=request_id)
    await session.commit()
    return devices


async def get_device(session: AsyncSession, who: Principal, device_id: str,
                     request_id: str | None = None) -> Device:
    """One device (audited read)."""
    device = await _load(session, device_id)
    if device.patient_id:
        await _authorize(session, who, device.patient_id, action="read", device_id=device.id,
                         request_id=request_id)
    elif who.role != "admin":
        raise not_found("Device")
    await session.commit()
    return device


async def assignment_history(session: AsyncSession,
                             device_id: str) -> list[DeviceAssignment]:
    """A device's assignments, oldest first (no access check: callers check and audit)."""
    result = await session.exec(
        select(DeviceAssignment).where(DeviceAssignment.device_id == device_id)
        .order_by(col(DeviceAssignment.valid_from), col(DeviceAssignment.id)))
    return list(result.all())


@dataclass(frozen=True, slots=True)
class AssignmentView:
    """One interval of a device's history as a person may see it.

    ``patient_id`` is None for a patient the viewer may not see: they learn that the device
    was someone else's then, not whose.
    """

    patient_id: str | None
    start: datetime
    end: datetime | None


async def device_history(session: AsyncSession, who: Principal,
                         device: Device) -> list[AssignmentView]:
    """The device's assignments, oldest first, other patients' ids hidden from ``who``."""
    rows = await assignment_history(session, device.id)
    named = sorted({a.patient_id for a in rows if a.patient_id is not None})
    condition = scope.visible(col(Patient.id), who)
    visible = set(named) if condition is None or not named else set((await session.exec(
        select(Patient.id).where(col(Patient.id).in_(named)).where(condition))).all())
    return [AssignmentView(a.patient_id if a.patient_id in visible else None,
                           a.valid_from, a.valid_until) for a in rows]


@dataclass(frozen=True, slots=True)
class DevicePage:
    """A device, its history as ``who`` may see it, and the names of the patients shown."""

    device: Device
    history: list[AssignmentView]
    patients: dict[str, Patient]


async def device_page(session: AsyncSession, who: Principal, device_id: str,
                      request_id: str | None = None) -> DevicePage:
    """What the device's page shows (the read is audited like `get_device`)."""
    device = await get_device(session, who, device_id, request_id)
    history = await device_history(session, who, device)
    ids = sorted({a.patient_id for a in history if a.patient_id is not None})
    patients = {p.id: p for p in (await session.exec(
        select(Patient).where(col(Patient.id).in_(ids)))).all()} if ids else {}
    return DevicePage(device, history, patients)


def _domain(rows: list[DeviceAssignment]) -> list[domain_assignments.Assignment]:
    return [domain_assignments.Assignment(r.valid_from, r.valid_until, r.patient_id)
            for r in rows]


async def _move(session: AsyncSession, who: Principal | None, device: Device,
                patient_id: str | None, at: datetime) -> None:
    """Close the device's open interval at ``at`` and open one for ``patient_id``."""
    rows = await assignment_history(session, device.id)
    try:
        after = domain_assignments.reassign(_domain(rows), patient_id, at)
    except ValueError:
        raise conflict("The device changed hands a moment ago; try again.",
                       "device_busy") from None
    actor = who.user_id if who else None
    for row, interval in zip(rows, after, strict=False):
        if row.valid_until != interval.end:
            row.valid_until, row.ended_by = interval.end, actor
            session.add(row)
    await session.flush()  # the open interval closes before the next one opens (unique)
    for interval in after[len(rows):]:
        session.add(DeviceAssignment(device_id=device.id, patient_id=interval.patient_id,
                                     valid_from=interval.start, assigned_by=actor))


async def reassign_device(session: AsyncSession, who: Principal | None, device_id: str,
                          patient_id: str | None, request_id: str | None = None) -> Device:
    """Give a device to another patient, or to nobody (``patient_id`` None).

    Both patients' access is checked, and the change is audited for each of them; the
    assignment history keeps who had the device when, so readings it took before the change
    (its offline buffer) still go to the patient who had it then.
    """
    device = await _load(session, device_id, for_update=True)
    _require_active(device)
    if patient_id is not None:
        await _patient_exists(session, patient_id)
    if patient_id == device.patient_id:
        if patient_id is not None:
            await _authorize(session, who, patient_id, action="update", device_id=device.id,
                             request_id=request_id, reason=because("device_unchanged"))
        else:
            _require_admin_or_operator(who)
        await session.commit()
        return device
    at = utcnow()
    stamp = at.isoformat(timespec="seconds")
    if device.patient_id:
        await _authorize(session, who, device.patient_id, action="update",
                         device_id=device.id, request_id=request_id,
                         reason=because("device_taken", serial=device.serial, at=stamp))
    if patient_id is not None:
        await _authorize(session, who, patient_id, action="update", device_id=device.id,
                         request_id=request_id,
                         reason=because("device_given", serial=device.serial, at=stamp))
    try:
        await _move(session, who, device, patient_id, at)
        device.patient_id = patient_id
        session.add(device)
        record_event(session, DeviceChanged(device.id, patient_id))
        await session.commit()
    except IntegrityError:  # another change of this device won the race
        await session.rollback()
        raise conflict("The device changed hands a moment ago; try again.",
                       "device_busy") from None
    return device


async def revoke_device(session: AsyncSession, dynsec: DynSecClient | None,
                        who: Principal | None, device_id: str,
                        request_id: str | None = None) -> Device:
    """Revoke a device: its broker client goes (disconnected at once); readings stay."""
    device = await _load(session, device_id)
    if device.patient_id:
        await _authorize(session, who, device.patient_id, action="delete",
                         device_id=device.id, request_id=request_id)
    if device.revoked_at is None:
        try:
            await identities.delete_device(_require_broker(dynsec), device.id)
        except BrokerError:
            raise broker_unavailable() from None
        device.revoked_at = utcnow()
        device.status = "revoked"
        device.secret_hash = ""
        session.add(device)
        # Its interval ends: the history then says until when the patient had it.
        for row in await assignment_history(session, device.id):
            if row.valid_until is None:
                row.valid_until, row.ended_by = device.revoked_at, who.user_id if who else None
                session.add(row)
        record_event(session, DeviceChanged(device.id, device.patient_id))
    await session.commit()
    return device


async def rotate_credentials(session: AsyncSession, dynsec: DynSecClient | None,
                             who: Principal | None, device_id: str,
                             request_id: str | None = None) -> Registration:
    """Give a device a new password; the old one stops working at once."""
    device = await _load(session, device_id)
    _require_active(device)
    if device.patient_id:
        await _authorize(session, who, device.patient_id, action="update",
                         device_id=device.id, request_id=request_id)
    broker = _require_broker(dynsec)
    password = new_device_password()
    new_hash = await asyncio.to_thread(hash_password, password)
    try:
        await identities.set_device_password(broker, device.id, password)
    except BrokerError:
        raise broker_unavailable() from None
    device.secret_hash = new_hash
    session.add(device)
    record_event(session, DeviceChanged(device.id, device.patient_id))
    await session.commit()
    return Registration(device, password)


@functools.cache
def _decoy_hash() -> str:
    """A hash nobody knows the password of, so unknown devices cost as much as known ones."""
    return hash_password(secrets.token_urlsafe(24))


async def authenticate_device(session: AsyncSession, device_id: str,
                              password: str) -> Device | None:
    """The device if `password` is its current one and it is not revoked, else None.

    Always runs one argon2 verification (off the loop), so the answer takes as long for an
    unknown or revoked device as for a wrong password.
    """
    device = await session.get(Device, device_id) if 0 < len(device_id) <= 32 else None
    usable = device is not None and device.revoked_at is None and bool(device.secret_hash)
    stored = device.secret_hash if usable and device is not None else None
    if stored is None:
        stored = await asyncio.to_thread(_decoy_hash)
    ok = await asyncio.to_thread(verify_password, stored, password)
    return device if ok and usable else None
