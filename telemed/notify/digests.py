"""The daily digest's side of the delivery worker (docs/notifications.md, "Daily digest").

- *Holding* (at fan-out, `holds`): a user's notification of a kind they chose to receive in
  the digest gets no email delivery; ``held_at`` marks it. The bell shows it as ever.
- *Making* (`make_due`): per user with held notifications, `telemed.domain.digest.due_now`
  says whether a summary is due. One is made by inserting its row, unique per user and due
  instant, and taking the held notifications into it with an UPDATE conditional on their
  ``digest_id`` being unset, all in one transaction: of two workers that find it due, the
  second's insert fails (or, arriving later, finds nothing left to take) and makes nothing.
  A notification read in the app before its summary is made is taken but not listed; a
  summary that lists nothing is ``skipped`` (no email).
- *Sending*: a summary's email is leased, sent, retried and recorded like any delivery (the
  worker's ``_claim`` and ``_record``), with one ``Message-ID`` for every attempt.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from email.message import EmailMessage
from typing import Any

from sqlalchemy import func, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.engine import SessionFactory
from telemed.db.models import Notification, NotificationDigest, User
from telemed.domain import digest
from telemed.notify import kinds
from telemed.notify.messages import (
    DigestItem,
    digest_message,
    language_for,
    message_id,
    title,
)

SETTINGS_PAGE = "/settings/notifications"


def holds(n: Notification, user: User) -> bool:
    """Whether the email of ``n`` waits for its owner's digest."""
    return (n.kind in kinds.DIGESTIBLE and bool(user.email)
            and n.kind in kinds.digest_kinds(user.digest_kinds))


async def make_due(sessions: SessionFactory, now: datetime, where: tzinfo,
                   mail_from: str) -> int:
    """Make the summaries due at ``now``; returns how many were made (to send or skipped).
    Reads the pending kinds with their owners' choices in one statement, however many
    people have something held (``ix_notifications_held``; the owners by primary key);
    writes only for the summaries due."""
    stmt: Any = (  # five columns: more than sqlmodel's typed select takes
        sa_select(col(Notification.user_id), col(Notification.kind),
                  func.min(Notification.held_at), col(User.digest_kinds), col(User.digest_time))
        .join(User, col(User.id) == col(Notification.user_id))
        .where(col(Notification.digest_id).is_(None))
        .where(col(Notification.held_at).is_not(None))
        .where(col(Notification.held_at) <= now)
        .group_by(col(Notification.user_id), col(Notification.kind), col(User.id)))
    async with sessions() as session:
        rows = (await session.exec(stmt)).all()
    pending: dict[str, list[tuple[str, datetime]]] = {}
    choices: dict[str, tuple[Any, Any]] = {}
    for user_id, kind, held, held_kinds, at in rows:
        if user_id is not None and held is not None:
            pending.setdefault(user_id, []).append((kind, held))
            choices[user_id] = (held_kinds, at)
    due: list[tuple[str, datetime, frozenset[str]]] = []
    for user_id in sorted(pending):
        held_kinds, at = choices[user_id]
        decision = digest.due_now(pending[user_id], kinds.digest_kinds(held_kinds),
                                  digest.stored_time(at), where, now)
        if decision is not None:
            due.append((user_id, *decision))
    made = 0
    for user_id, due_at, taken in due:
        async with sessions() as session:
            made += await _make_one(session, user_id, due_at, taken, now, mail_from)
    return made


async def _make_one(session: AsyncSession, user_id: str, due_at: datetime,
                    taken: frozenset[str], now: datetime, mail_from: str) -> int:
    user = await session.get(User, user_id)
    if user is None:
        return 0
    row = NotificationDigest(user_id=user_id, due_at=due_at, address=user.email or "",
                             created_at=now, next_attempt_at=now)
    row.message_id = message_id(f"digest-{row.id}", mail_from)
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:  # another worker made this summary
        await session.rollback()
        return 0
    took = await session.exec(
        update(Notification).where(col(Notification.user_id) == user_id)
        .where(col(Notification.digest_id).is_(None))
        .where(col(Notification.held_at).is_not(None))
        .where(col(Notification.held_at) <= now)
        .where(col(Notification.kind).in_(sorted(taken)))
        .values(digest_id=row.id))
    if took.rowcount == 0:  # another worker took them first
        await session.rollback()
        return 0
    row.items = int((await session.exec(
        select(func.count()).select_from(Notification)
        .where(Notification.digest_id == row.id)
        .where(col(Notification.read_at).is_(None)))).one())
    if row.items == 0 or not row.address or not user.active:
        row.status = "skipped"  # nothing to say, or nobody to say it to: no email
    session.add(row)
    await session.commit()
    return 1


async def digest_email(session: AsyncSession, row: NotificationDigest, *, lang_default: str,
                       public_url: str, mail_from: str) -> EmailMessage:
    """The email of a summary: the notifications it took that were unread when it was made,
    oldest first, in the owner's language."""
    user = await session.get(User, row.user_id)
    lang = language_for(user.language if user else None, lang_default)
    listed = (await session.exec(
        select(Notification).where(Notification.digest_id == row.id)
        .where(col(Notification.read_at).is_(None)
               | (col(Notification.read_at) >= row.created_at))
        .order_by(col(Notification.created_at), col(Notification.id)))).all()
    items = [DigestItem(n.kind, title(lang, n.title_code, n.params, n.fold_count),
                        public_url + n.link) for n in listed]
    return digest_message(lang=lang, items=items, settings_url=public_url + SETTINGS_PAGE,
                          sender=mail_from, recipient=row.address, message_id=row.message_id)
