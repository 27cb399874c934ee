"""Visit reminders (``visit_reminder``): 24 hours and 15 minutes before a visit, to the patient.

Run by the scheduler's pass. A reminder is recorded once per visit and lead (the notification
itself is the memory: ``params.lead``). The 24-hour one is skipped for a visit booked less than
24 hours ahead (``visit_changed`` told the patient already); the 15-minute one is sent until the
visit starts. Guests without an account get no reminder (their invitation link is their note).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import Notification, User, Visit
from telemed.notify import outbox

DAY_BEFORE: Final = timedelta(hours=24)
JUST_BEFORE: Final = timedelta(minutes=15)


def due_lead(start: datetime, created_at: datetime, now: datetime) -> str | None:
    """The reminder of a visit starting at ``start`` due at ``now``: "15m", "24h" or None."""
    ahead = start - now
    if ahead <= timedelta(0):
        return None
    if ahead <= JUST_BEFORE:
        return "15m"
    if ahead <= DAY_BEFORE and created_at <= start - DAY_BEFORE:
        return "24h"
    return None


async def visit_reminders(session: AsyncSession, now: datetime) -> int:
    """Record the reminders due now (the caller commits); returns how many were recorded."""
    visits = (await session.exec(
        select(Visit).where(col(Visit.status).in_(("scheduled", "waiting")))
        .where(col(Visit.scheduled_start) > now)
        .where(col(Visit.scheduled_start) <= now + timedelta(hours=24)))).all()
    if not visits:
        return 0
    sent = {(n.cause_id, str(n.params.get("lead"))) for n in (await session.exec(
        select(Notification).where(Notification.kind == "visit_reminder")
        .where(col(Notification.cause_id).in_([v.id for v in visits])))).all()}
    recorded = 0
    for visit in visits:
        lead = due_lead(visit.scheduled_start, visit.created_at, now)
        if lead is None or (visit.id, lead) in sent:
            continue
        patients = (await session.exec(
            select(User.id).where(User.patient_id == visit.patient_id))).all()
        made = await outbox.record(session, user_ids=patients, kind="visit_reminder",
                                   params={"lead": lead}, link="/visits",
                                   cause_type="visit", cause_id=visit.id, now=now)
        recorded += len(made)
    return recorded
