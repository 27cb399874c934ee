"""The on-call rota: who covers escalations at a time (docs/notifications.md, "On call").

A shift covers every patient of the platform from ``starts_at`` to ``ends_at`` (half-open).
It is refused, with nothing changed, when the user is unknown or not a clinician, when it ends
before it starts, when it ends in the past, or when it overlaps another shift of the same user.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import Alert, Notification, OnCallShift, User
from telemed.db.types import utcnow
from telemed.errors import N_, conflict, invalid

CLINICIANS = ("doctor", "nurse")
MAX_SHIFT = timedelta(days=7)


async def add_shift(session: AsyncSession, *, user_id: str, starts_at: datetime,
                    ends_at: datetime, created_by: str,
                    now: datetime | None = None) -> OnCallShift:
    """Record one shift after checking it (422/409 change nothing)."""
    now = now or utcnow()
    errors: dict[str, str] = {}
    user = await session.get(User, user_id)
    if user is None or not user.active:
        errors["user_id"] = N_("No such user.")
    elif user.role not in CLINICIANS:
        errors["user_id"] = N_("Only doctors and nurses can be on call.")
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        errors["starts_at"] = N_("Times need a UTC offset.")
    elif ends_at <= starts_at:
        errors["ends_at"] = N_("The shift must end after it starts.")
    elif ends_at <= now:
        errors["ends_at"] = N_("The shift is in the past.")
    elif ends_at - starts_at > MAX_SHIFT:
        errors["ends_at"] = N_("A shift lasts at most 7 days.")
    if errors:
        raise invalid(errors)
    overlapping = await session.exec(
        select(OnCallShift.id).where(OnCallShift.user_id == user_id)
        .where(col(OnCallShift.starts_at) < ends_at).where(col(OnCallShift.ends_at) > starts_at))
    if overlapping.first() is not None:
        raise conflict("This shift overlaps another shift of the same person.",
                       "shift_overlaps")
    shift = OnCallShift(user_id=user_id, starts_at=starts_at, ends_at=ends_at,
                        created_by=created_by)
    session.add(shift)
    await session.flush()
    return shift


async def on_call_at(session: AsyncSession, at: datetime) -> list[str]:
    """Ids of the active clinicians on call at ``at`` (earliest shift first)."""
    rows = await session.exec(
        select(OnCallShift.user_id).join(User, col(User.id) == col(OnCallShift.user_id))
        .where(col(OnCallShift.starts_at) <= at).where(col(OnCallShift.ends_at) > at)
        .where(col(User.active)).order_by(col(OnCallShift.starts_at)))
    return list(dict.fromkeys(rows.all()))


async def shifts_between(session: AsyncSession, start: datetime,
                         end: datetime) -> list[tuple[OnCallShift, str]]:
    """Shifts overlapping [start, end) with the clinician's name, in time order."""
    rows = await session.exec(
        select(OnCallShift, User.display_name)
        .join(User, col(User.id) == col(OnCallShift.user_id))
        .where(col(OnCallShift.starts_at) < end).where(col(OnCallShift.ends_at) > start)
        .order_by(col(OnCallShift.starts_at), col(OnCallShift.id)))
    return [(shift, name) for shift, name in rows.all()]


async def has_oncall_access(session: AsyncSession, patient_id: str, user_id: str,
                            now: datetime | None = None) -> bool:
    """Whether an alert of the patient escalated to the user during the user's shift that is
    still running (the record is open to them until that shift ends)."""
    now = now or utcnow()
    rows = await session.exec(
        select(Notification.id)
        .join(Alert, col(Alert.id) == col(Notification.cause_id))
        .join(OnCallShift, col(OnCallShift.user_id) == col(Notification.user_id))
        .where(Notification.user_id == user_id)
        .where(Notification.kind == "alert_escalated")
        .where(Alert.patient_id == patient_id)
        .where(col(OnCallShift.starts_at) <= col(Notification.created_at))
        .where(col(OnCallShift.ends_at) > col(Notification.created_at))
        .where(col(OnCallShift.starts_at) <= now).where(col(OnCallShift.ends_at) > now)
        .limit(1))
    return rows.first() is not None
