"""Visit reminders (``visit_reminder``): 24 hours and 15 minutes before a visit, to the patient
and to the visit's guests who left an email address.

Run by the scheduler's pass. A reminder is recorded once per visit and lead (the notification
itself is the memory: ``params.lead``). The 24-hour one is skipped for a visit booked less than
24 hours ahead (``visit_changed`` told the patient already); the 15-minute one is sent until the
visit starts. A guest's reminder is an email only (a guest has no account); its join link is
made when it is sent (`guest_link`): a fresh one-time invitation link while the guest has not
opened theirs, else the guest page their browser already holds.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import Notification, User, Visit, VisitGuest
from telemed.domain.visit_audience import portal_sees
from telemed.notify import outbox
from telemed.security import TokenSigner
from telemed.services import visit_guests
from telemed.services.visits import join_window

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
            select(User.id).where(User.patient_id == visit.patient_id))).all() \
            if portal_sees(visit.patient_invited, "notice") else []
        made = await outbox.record(session, user_ids=patients, kind="visit_reminder",
                                   params={"lead": lead}, link="/visits",
                                   cause_type="visit", cause_id=visit.id, now=now)
        guests = (await session.exec(
            select(VisitGuest).where(VisitGuest.visit_id == visit.id)
            .where(col(VisitGuest.email).is_not(None))
            .where(col(VisitGuest.revoked_at).is_(None)))).all()
        made += await outbox.record_guests(session, guests=guests, kind="visit_reminder",
                                           params={"lead": lead}, cause_id=visit.id, now=now)
        recorded += len(made)
    return recorded


def guest_link(*, secret: str, public_url: str, guest: VisitGuest, visit: Visit,
               now: datetime) -> str | None:
    """The join link of a guest's reminder; None when the guest may no longer join."""
    closes = join_window(visit)[1]
    if guest.revoked_at is not None or visit.status in ("cancelled", "completed") \
            or closes <= now:
        return None
    if guest.used_at is not None:  # their browser holds the guest page's cookie
        return f"{public_url}/visits/{visit.id}/guest"
    token = TokenSigner(secret).sign(visit_guests.LINK_PURPOSE,
                                     {"v": visit.id, "g": guest.id},
                                     int((closes - now).total_seconds()))
    return visit_guests.invitation_link(public_url, visit.id, token)
