"""The daily digest's side of the delivery worker (docs/notifications.md, "Daily digest").

- *Holding* (at fan-out, `holds`, `hold`): a user's notification of a kind they chose to
  receive in the digest gets no email delivery; ``held_at`` marks it and ``due_at`` says when
  its summary is due (the owner's next digest time, `telemed.domain.digest`). A change of the
  owner's choices dates their held notifications again in its own transaction (`redate`):
  the new digest time, or at once for a kind switched back to right away. The bell shows it
  as ever.
- *Making* (`make_due`): the held notifications due now, by ``ix_notifications_due``
  (``digest_id IS NULL AND due_at <= now``): a pass costs what is due, not what is held.
  Each owner with some gets one summary of them, named by the earliest due instant among
  them; they are made a batch at a time (``MAKE_BATCH``), each batch in one transaction:
  their rows are inserted, unique per user and due instant (``ON CONFLICT DO NOTHING``: a
  row another worker made is left out, not the batch), and the due notifications of the
  rows inserted are taken with one UPDATE conditional on their ``digest_id`` being unset. Of
  two workers that find a summary due, the second's row is left out; it is tried once more
  as due now, finds nothing left to take and is deleted again: each summary is made once,
  each notification taken once. The same retry takes what a worker held for a summary made
  before its hold committed: due now, not left waiting for a key that is taken. A worker
  that dies mid-pass leaves whole batches made and the rest to the next pass. A
  notification read in the app before its summary is made is taken but not listed; a
  summary that lists nothing is ``skipped`` (no email).
- *Sending*: a summary's email is leased, sent, retried and recorded like any delivery (the
  worker's ``_claim`` and ``_record``), with one ``Message-ID`` for every attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, tzinfo
from email.message import EmailMessage
from typing import Any

from sqlalchemy import Table, case, delete, func, literal, update
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.engine import SessionFactory
from telemed.db.models import Notification, NotificationDigest, User
from telemed.db.types import UTCDateTime, new_id
from telemed.db.upserts import insert_on_conflict
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
MAKE_BATCH = 250  # summaries made per transaction (10 columns each: 2,500 parameters)
DIGESTS: Table = NotificationDigest.__table__  # type: ignore[attr-defined]
NOTIFICATIONS: Table = Notification.__table__  # type: ignore[attr-defined]


def holds(n: Notification, user: User) -> bool:
    """Whether the email of ``n`` waits for its owner's digest."""
    return (n.kind in kinds.DIGESTIBLE and bool(user.email)
            and n.kind in kinds.digest_kinds(user.digest_kinds))


def hold(n: Notification, user: User, now: datetime, where: tzinfo) -> None:
    """Hold the email of ``n`` from ``now``: due at its owner's next digest time."""
    n.held_at = now
    n.due_at = digest.next_digest_at(now, digest.stored_time(user.digest_time), where)


def choices(user: User) -> tuple[list[str], time]:
    """What dates a user's held notifications: the kinds that wait, the digest time."""
    return kinds.digest_kinds(user.digest_kinds), digest.stored_time(user.digest_time)


async def redate(session: AsyncSession, user: User, where: tzinfo, now: datetime) -> None:
    """Date the held notifications of ``user`` again after a change of their `choices`
    (not committed: in the change's transaction, after the user's row is written): a kind
    that still waits is due at the digest time after it was held, one switched back to right
    away ``now``. Two statements however many are held (one when none is).

    A fan-out holding a notification meanwhile reads its owner with a share lock
    (PostgreSQL; SQLite writes one transaction at a time): it holds by the choices it sees
    committed, and the change, writing the user's row first, dates what it held."""
    pending = (col(Notification.user_id) == user.id, col(Notification.digest_id).is_(None),
               col(Notification.held_at).is_not(None))
    first, last = (await session.exec(
        select(func.min(Notification.held_at), func.max(Notification.held_at))
        .where(*pending))).one()
    if first is None or last is None:
        return
    waiting, at = choices(user)
    *earlier, latest = digest.digest_times(first, last, at, where)
    scheduled = (case(*((col(Notification.held_at) < t, _instant(t)) for t in earlier),
                      else_=_instant(latest)) if earlier else _instant(latest))
    await session.exec(
        update(Notification).where(*pending)
        .values(due_at=case((col(Notification.kind).in_(waiting), scheduled),
                            else_=_instant(now))))


def _instant(value: datetime) -> Any:
    """``value`` as a bound parameter of the UTC column type (naive UTC on SQLite)."""
    return literal(value, UTCDateTime())


async def make_due(sessions: SessionFactory, now: datetime, mail_from: str) -> int:
    """Make the summaries due at ``now``; returns how many were made (to send or skipped).
    Reads the held notifications due with their owners (where the summary goes) in one
    statement, from the range due of ``ix_notifications_due``: with nothing due an empty
    range, however many are held (not grouped in SQL: SQLite would rather walk every
    notification in owner order than sort the few due). Then makes the due summaries
    ``MAKE_BATCH`` at a time, a few statements per batch."""
    stmt: Any = (sa_select(col(Notification.user_id), col(Notification.due_at),
                           col(User.email), col(User.active))
                 .join(User, col(User.id) == col(Notification.user_id))
                 .where(col(Notification.digest_id).is_(None))
                 .where(col(Notification.due_at) <= now))
    async with sessions() as session:
        rows = (await session.exec(stmt)).all()
    found: dict[str, _Due] = {}
    for user_id, due_at, email, active in rows:
        if user_id is not None and due_at is not None and (
                user_id not in found or due_at < found[user_id].due_at):
            found[user_id] = _Due(user_id, due_at, email or "", bool(active))
    due = [found[user_id] for user_id in sorted(found)]  # one order for every worker
    made = 0
    for first in range(0, len(due), MAKE_BATCH):
        async with sessions() as session:
            made += await _make_batch(session, due[first:first + MAKE_BATCH], now, mail_from)
    return made


@dataclass(frozen=True, slots=True)
class _Due:
    """A summary found due: whose, its due instant (the earliest of what it takes), where
    it goes."""

    user_id: str
    due_at: datetime
    address: str
    active: bool


def _insert(dialect: str) -> Any:
    """``INSERT ... ON CONFLICT (user_id, due_at) DO NOTHING RETURNING id``: a summary made by
    another worker is left out, the rest of the batch goes in."""
    return insert_on_conflict(dialect, DIGESTS, ["user_id", "due_at"]).returning(DIGESTS.c.id)


async def _make_batch(session: AsyncSession, batch: list[_Due], now: datetime,
                      mail_from: str) -> int:
    """Make a batch of due summaries in one transaction: one multi-row insert of the rows
    (those another worker made already are left out), one UPDATE taking the due held
    notifications of all of them (returning what each took), one UPDATE of their counts and
    states, and a DELETE of any that found nothing left to take."""
    conn = await session.connection()
    ids = {d.user_id: new_id() for d in batch}

    async def insert(dues: list[_Due], at: datetime | None) -> set[str]:
        return set((await conn.execute(_insert(conn.dialect.name).values([
            {"id": ids[d.user_id], "user_id": d.user_id, "due_at": at or d.due_at,
             "items": 0, "address": d.address, "status": "pending", "attempts": 0,
             "next_attempt_at": now, "created_at": now,
             "message_id": message_id(f"digest-{ids[d.user_id]}", mail_from)}
            for d in dues]))).scalars())

    made = await insert(batch, None)
    left = [d for d in batch if ids[d.user_id] not in made]
    if left:
        # Their summary due then exists: another worker made it just now (it took what was
        # due: ours takes nothing and goes again), or it was made before these were held (a
        # hold that committed late): those go in a summary due now, never left waiting.
        made |= await insert(left, now)
    mine = [d for d in batch if ids[d.user_id] in made]
    if not mine:  # another worker made every one of them
        await session.rollback()
        return 0
    taken = (await conn.execute(
        update(NOTIFICATIONS)
        .where(NOTIFICATIONS.c.digest_id.is_(None))
        .where(NOTIFICATIONS.c.due_at <= now)
        .where(NOTIFICATIONS.c.user_id.in_([d.user_id for d in mine]))
        .values(digest_id=case({d.user_id: ids[d.user_id] for d in mine},
                               value=NOTIFICATIONS.c.user_id))
        .returning(NOTIFICATIONS.c.digest_id, NOTIFICATIONS.c.read_at))).all()
    items: dict[str, int] = {}
    for digest_id, read_at in taken:
        items[digest_id] = items.get(digest_id, 0) + (read_at is None)
    # another worker took them first (a summary of the same things due at another instant)
    empty = [ids[d.user_id] for d in mine if ids[d.user_id] not in items]
    if empty:
        await conn.execute(delete(DIGESTS).where(DIGESTS.c.id.in_(empty)))
    kept = [d for d in mine if ids[d.user_id] in items]
    # nothing to say, or nobody to say it to: no email
    skipped = [ids[d.user_id] for d in kept
               if items[ids[d.user_id]] == 0 or not d.address or not d.active]
    if kept:
        await conn.execute(
            update(DIGESTS).where(DIGESTS.c.id.in_([ids[d.user_id] for d in kept]))
            .values(items=case(items, value=DIGESTS.c.id),
                    status=case((DIGESTS.c.id.in_(skipped), "skipped"), else_="pending")))
    await session.commit()
    return len(kept)


async def digest_emails(session: AsyncSession, ids: list[str], *, lang_default: str,
                        public_url: str, mail_from: str
                        ) -> list[tuple[NotificationDigest, EmailMessage]]:
    """The emails of the summaries ``ids`` (two statements however many): each lists the
    notifications it took that were unread when it was made, oldest first, in the owner's
    language."""
    if not ids:
        return []
    rows = (await session.exec(
        select(NotificationDigest, User.language)
        .join(User, col(User.id) == col(NotificationDigest.user_id), isouter=True)
        .where(col(NotificationDigest.id).in_(ids))
        .order_by(col(NotificationDigest.next_attempt_at), col(NotificationDigest.id)))).all()
    listed: dict[str, list[Notification]] = {}
    for n in (await session.exec(
            select(Notification)
            .join(NotificationDigest,
                  col(NotificationDigest.id) == col(Notification.digest_id))
            .where(col(Notification.digest_id).in_(ids))
            .where(col(Notification.read_at).is_(None)
                   | (col(Notification.read_at) >= col(NotificationDigest.created_at)))
            .order_by(col(Notification.created_at), col(Notification.id)))).all():
        listed.setdefault(n.digest_id or "", []).append(n)
    out: list[tuple[NotificationDigest, EmailMessage]] = []
    for row, language in rows:
        lang = language_for(language, lang_default)
        items = [DigestItem(n.kind, title(lang, n.title_code, n.params, n.fold_count),
                            public_url + n.link) for n in listed.get(row.id, [])]
        out.append((row, digest_message(
            lang=lang, items=items, settings_url=public_url + SETTINGS_PAGE, sender=mail_from,
            recipient=row.address, message_id=row.message_id)))
    return out
