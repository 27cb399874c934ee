"""The delivery worker: the only part of the platform that sends notifications out.

One pass (``DeliveryWorker.run_once``):

1. Fan-out. Each notification not yet dispatched is claimed with a conditional UPDATE
   (``dispatched_at IS NULL``: one process wins), gets one delivery per channel that applies
   (email when the recipient has an address and SMTP is configured; each Apprise URL for the
   paging kinds), and is announced on the bus (``notifications``) to the owner's streams.
   The email of a kind its owner set to the daily digest is held instead (``digests``).
2. Digests. The daily summaries due now are made (``digests.make_due``), each once.
3. Delivery. Due deliveries, and due summaries' emails, are claimed for a lease
   (``LEASE``) with one UPDATE each, conditional on their being pending and due and
   returning the rows taken (the candidates read with ``FOR UPDATE SKIP LOCKED`` on
   PostgreSQL; SQLite runs one writing statement at a time). A claimed delivery's
   ``next_attempt_at`` moves to the end of its lease, so a worker that dies while sending
   frees it when the lease runs out. Then the message is sent and the result recorded, one
   committed UPDATE per message, conditional on the row being still pending: sent; a retry
   after an exponential pause (``backoff``) for at least 24 h, then ``dead``; or ``failed``
   for a permanent refusal.

"Never twice": every attempt of a notification's email carries the same ``Message-ID``. If the
process dies after the server accepted a message and before the result was committed, the
message goes again after the lease with that same ``Message-ID``, which mail stores and clients
use to fold duplicates; the platform never makes a second, different message of one
notification. Nothing committed as ``sent`` is ever sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import Counter
from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.bus import ALERTS, EventBus
from telemed.db.engine import SessionFactory
from telemed.db.models import (
    Notification,
    NotificationDelivery,
    NotificationDigest,
    User,
    Visit,
    VisitGuest,
)
from telemed.db.types import utcnow
from telemed.domain.local_time import zone
from telemed.notify import backoff, digests, kinds
from telemed.notify.channels import (
    Outcome,
    SmtpServer,
    apprise_address,
    send_apprise,
    send_email,
)
from telemed.notify.messages import email_message, language_for, message_id, plain_text, title
from telemed.notify.outbox import notification_out, unread_count
from telemed.notify.reminders import guest_link
from telemed.settings import Settings

log = logging.getLogger("telemed.notify")

NOTIFICATIONS = "notifications"  # bus channel: a new notification for a user's streams
BATCH = 50
POLL_SECONDS = 5.0

Clock = Callable[[], datetime]
EmailSender = Callable[[SmtpServer, Any], Awaitable[Outcome]]
Leased = type[NotificationDelivery] | type[NotificationDigest]  # rows the worker leases


@dataclass(frozen=True, slots=True)
class Channels:
    """The outside channels this process may use."""

    smtp: SmtpServer | None
    mail_from: str
    apprise_urls: tuple[str, ...]
    public_url: str
    language: str
    secret_key: str = ""  # signs the join links of guests' visit reminders
    timezone: str = "Europe/Rome"  # the clock of the daily digest's time (TELEMED_TIMEZONE)

    @classmethod
    def from_settings(cls, settings: Settings) -> Channels:
        return cls(smtp=SmtpServer.from_url(settings.smtp_url) if settings.smtp_url else None,
                   mail_from=settings.effective_mail_from,
                   apprise_urls=tuple(settings.notify_urls),
                   public_url=settings.effective_public_url, language=settings.language,
                   secret_key=settings.secret_key, timezone=settings.timezone)


class DeliveryWorker:
    """Fans notifications out to channels and delivers them, with retries."""

    def __init__(self, sessions: SessionFactory, bus: EventBus | None, channels: Channels,
                 clock: Clock = utcnow, on_outcome: Counter | None = None) -> None:
        self.sessions = sessions
        self.on_outcome = on_outcome  # telemed_notification_deliveries{channel, result}
        self.bus = bus
        self.channels = channels
        self.clock = clock
        self.wake = asyncio.Event()
        self._apprise = {apprise_address(url): url for url in channels.apprise_urls}

    # --- fan-out ----------------------------------------------------------------------

    async def dispatch(self) -> int:
        """Create the deliveries of new notifications and announce them; returns how many."""
        async with self.sessions() as session:
            ids = list((await session.exec(
                select(Notification.id).where(col(Notification.dispatched_at).is_(None))
                .order_by(col(Notification.created_at)).limit(BATCH * 4))).all())
        announced: list[tuple[Notification, str, int]] = []
        for notification_id in ids:
            async with self.sessions() as session:
                claimed = await session.exec(
                    update(Notification).where(col(Notification.id) == notification_id)
                    .where(col(Notification.dispatched_at).is_(None))
                    .values(dispatched_at=self.clock()))
                if claimed.rowcount != 1:
                    await session.rollback()
                    continue  # another worker has it
                n = await session.get(Notification, notification_id)
                if n is not None and n.user_id is None:  # a guest's: email only, no centre
                    await self._guest_delivery(session, n)
                    await session.commit()
                    continue
                # held by the owner's choices under a share lock: a change of them waits for
                # this hold to commit, then dates it too (digests.redate)
                lock = {"read": True} if n is not None and n.kind in kinds.DIGESTIBLE else None
                user = (await session.get(User, n.user_id, with_for_update=lock)
                        if n is not None else None)
                if n is None or user is None:
                    await session.commit()
                    continue
                made = await session.exec(select(NotificationDelivery.id).where(
                    NotificationDelivery.notification_id == n.id).limit(1))
                # else a fold announced again (or held already): nothing re-sent
                if made.first() is None and n.held_at is None:
                    paged = await self._paged_already(session, n)
                    held = self.channels.smtp is not None and digests.holds(n, user)
                    if held:
                        digests.hold(n, user, self.clock(), zone(self.channels.timezone))
                        session.add(n)
                    session.add_all(self._deliveries(n, user, self.clock(), page=not paged,
                                                     email=not held))
                await session.commit()
                lang = language_for(user.language, self.channels.language)
                announced.append((n, lang, await unread_count(session, user.id)))
        for n, lang, unread in announced:
            await self._announce(n, lang, unread)
        return len(announced)

    async def _guest_delivery(self, session: AsyncSession, n: Notification) -> None:
        guest = await session.get(VisitGuest, n.guest_id) if n.guest_id else None
        if self.channels.smtp is None or guest is None or not guest.email:
            return
        session.add(NotificationDelivery(
            notification_id=n.id, channel="email", address=guest.email,
            message_id=message_id(n.id, self.channels.mail_from), next_attempt_at=self.clock()))

    async def _paged_already(self, session: AsyncSession, n: Notification) -> bool:
        """Whether the operators were paged for this step already: the notifications of one
        escalation step (same cause, kind and time) page once, not once per recipient."""
        if n.kind not in kinds.PAGING or not self._apprise:
            return False
        found = await session.exec(
            select(NotificationDelivery.id)
            .join(Notification,
                  col(Notification.id) == col(NotificationDelivery.notification_id))
            .where(Notification.cause_id == n.cause_id).where(Notification.kind == n.kind)
            .where(Notification.created_at == n.created_at)
            .where(NotificationDelivery.channel == "apprise").limit(1))
        return found.first() is not None

    def _deliveries(self, n: Notification, user: User, now: datetime,
                    page: bool = True, email: bool = True) -> list[NotificationDelivery]:
        out: list[NotificationDelivery] = []
        mid = message_id(n.id, self.channels.mail_from)
        if email and self.channels.smtp is not None and user.email:
            out.append(NotificationDelivery(notification_id=n.id, channel="email",
                                            address=user.email, message_id=mid,
                                            next_attempt_at=now))
        if page and n.kind in kinds.PAGING:
            for address in self._apprise:
                out.append(NotificationDelivery(notification_id=n.id, channel="apprise",
                                                address=address, message_id=mid,
                                                next_attempt_at=now))
        return out

    async def _announce(self, n: Notification, lang: str, unread: int) -> None:
        if self.bus is None:
            return
        with contextlib.suppress(Exception):  # the bus is best effort; the list is durable
            await self.bus.publish(NOTIFICATIONS, {
                "type": "notification", "user_id": n.user_id, "unread": unread,
                "notification": notification_out(n, lang)})

    # --- delivery ---------------------------------------------------------------------

    async def _claim(self, session: AsyncSession, now: datetime,
                     model: Leased = NotificationDelivery) -> list[str]:
        """Lease the due rows of ``model`` (deliveries, or digests' emails) to this worker:
        one UPDATE of the due rows' lease, returning those it took. PostgreSQL skips the rows
        another worker is leasing (``FOR UPDATE SKIP LOCKED``); SQLite runs one writing
        statement at a time, so the second of two workers finds the rows leased already."""
        # Materialized: PostgreSQL could otherwise run a locking subquery again while
        # updating, and take more than BATCH rows.
        due = (select(model.id).where(col(model.status) == "pending")
               .where(col(model.next_attempt_at) <= now)
               .order_by(col(model.next_attempt_at)).limit(BATCH)
               .with_for_update(skip_locked=True)
               .cte("due").prefix_with("MATERIALIZED"))
        leased = await session.exec(
            update(model).where(col(model.id).in_(select(due.c.id)))
            .where(col(model.status) == "pending")
            .where(col(model.next_attempt_at) <= now)
            .values(next_attempt_at=now + backoff.LEASE, attempts=col(model.attempts) + 1)
            .returning(col(model.id)))
        ids = [str(i) for i in leased.scalars().all()]
        await session.commit()
        return ids

    async def deliver(self) -> int:
        """Send every due delivery and digest once; returns how many were attempted."""
        async with self.sessions() as session:
            ids = await self._claim(session, self.clock())
            digest_ids = await self._claim(session, self.clock(), NotificationDigest)
            emails = await digests.digest_emails(
                session, digest_ids, lang_default=self.channels.language,
                public_url=self.channels.public_url, mail_from=self.channels.mail_from)
        for delivery_id in ids:
            await self._deliver_one(delivery_id)
        for row, msg in emails:
            outcome = (await send_email(self.channels.smtp, msg)
                       if self.channels.smtp is not None
                       else Outcome("retry", "no mail server is configured (TELEMED_SMTP_URL)"))
            await self._record(row, row.created_at, outcome)
        return len(ids) + len(digest_ids)

    async def make_digests(self) -> int:
        """Make the daily digests due now (`telemed.notify.digests`); returns how many."""
        return await digests.make_due(self.sessions, self.clock(), self.channels.mail_from)

    async def _deliver_one(self, delivery_id: str) -> None:
        async with self.sessions() as session:
            delivery = await session.get(NotificationDelivery, delivery_id)
            n = await session.get(Notification, delivery.notification_id) if delivery else None
            if delivery is None or n is None:
                return
            if n.user_id is None:
                url = await self._guest_url(session, n)
                lang = self.channels.language
            else:
                user = await session.get(User, n.user_id)
                if user is None:
                    return
                url = self.channels.public_url + n.link
                lang = language_for(user.language, self.channels.language)
        outcome = (await self._send(delivery, n, lang, url) if url is not None
                   else Outcome("permanent", "the guest can no longer join this visit"))
        await self._record(delivery, n.created_at, outcome)

    async def _guest_url(self, session: AsyncSession, n: Notification) -> str | None:
        guest = await session.get(VisitGuest, n.guest_id) if n.guest_id else None
        visit = await session.get(Visit, guest.visit_id) if guest is not None else None
        if guest is None or visit is None:
            return None
        return guest_link(secret=self.channels.secret_key, public_url=self.channels.public_url,
                          guest=guest, visit=visit, now=self.clock())

    async def _send(self, delivery: NotificationDelivery, n: Notification, lang: str,
                    url: str) -> Outcome:
        heading = title(lang, n.title_code, n.params, n.fold_count)
        if delivery.channel == "email":
            if self.channels.smtp is None:
                return Outcome("retry", "no mail server is configured (TELEMED_SMTP_URL)")
            msg = email_message(lang=lang, heading=heading, url=url,
                                sender=self.channels.mail_from, recipient=delivery.address,
                                message_id=delivery.message_id, guest=n.user_id is None)
            return await send_email(self.channels.smtp, msg)
        if delivery.channel == "apprise":
            target = self._apprise.get(delivery.address)
            if target is None:
                return Outcome("permanent", "this Apprise URL is no longer configured")
            return await send_apprise(target, f"Telemed: {heading}",
                                      plain_text(lang, heading, url))
        return Outcome("permanent", f"unknown channel {delivery.channel}")

    async def _record(self, leased: NotificationDelivery | NotificationDigest,
                      created_at: datetime, outcome: Outcome) -> None:
        """Record an attempt's outcome on the row leased for it, in one UPDATE that changes
        nothing once the row is no longer pending (recorded by another worker whose lease
        followed, or sent again by an administrator)."""
        now = self.clock()
        model = type(leased)
        values: dict[str, Any] = {"last_error": outcome.error}
        status = "pending"
        if outcome.result == "sent":
            status = values["status"] = "sent"
            values["sent_at"] = now
        elif outcome.result == "permanent":
            status = values["status"] = "failed"
        else:  # the lease counted this attempt already
            retry_at = backoff.next_attempt(leased.attempts, created_at, now)
            if retry_at is None:
                status = values["status"] = "dead"
            else:
                values["next_attempt_at"] = retry_at
        async with self.sessions() as session:
            recorded = await session.exec(
                update(model).where(col(model.id) == leased.id)
                .where(col(model.status) == "pending").values(**values))
            await session.commit()
        if recorded.rowcount != 1:
            return
        if self.on_outcome is not None:
            result = {"permanent": "failed"}.get(outcome.result, outcome.result)
            if status == "dead":
                result = "dead"
            channel = getattr(leased, "channel", "digest")
            self.on_outcome.labels(channel, result).inc()
        if outcome.result != "sent":
            log.warning("notification delivery %s (%s): %s", leased.id, outcome.result,
                        outcome.error)

    async def run_once(self) -> tuple[int, int]:
        """One fan-out, digest and delivery pass: (dispatched, attempted)."""
        dispatched = await self.dispatch()
        await self.make_digests()
        return dispatched, await self.deliver()

    async def run(self, interval: float = POLL_SECONDS) -> None:
        """Passes until cancelled: every ``interval`` s, sooner when woken; failures logged."""
        while True:
            self.wake.clear()
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("notification delivery pass failed; trying again")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self.wake.wait()

    async def follow_alerts(self) -> None:
        """Wake up on alert changes: they may have recorded notifications."""
        if self.bus is None:
            return
        while True:
            subscription = self.bus.subscribe(ALERTS)
            try:
                async for _ in subscription:
                    self.wake.set()
                return
            except Exception:  # an overflow or a bus hiccup: the poll covers it
                await asyncio.sleep(1.0)
            finally:
                await subscription.close()
