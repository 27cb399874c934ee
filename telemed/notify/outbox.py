"""The outbox: notifications recorded in the transaction of their cause, read by their owner.

Services call the recording functions with their own session and commit with their change,
so a notification exists exactly when its cause does. Nothing here talks to the outside: the
delivery worker (``telemed.notify.worker``) fans each new notification out to its channels.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, update
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import (
    Alert,
    CareTeamMember,
    Delegation,
    Document,
    Notification,
    NotificationDelivery,
    NotificationDigest,
    Patient,
    User,
    VisitGuest,
)
from telemed.db.types import utcnow
from telemed.domain import quiet
from telemed.domain.audit_reasons import because
from telemed.domain.documents import cosign_page
from telemed.domain.visit_audience import portal_sees
from telemed.errors import conflict, not_found
from telemed.notify import kinds
from telemed.notify.messages import initials, title
from telemed.principal import Principal
from telemed.services.access import authorize_patient
from telemed.services.delegates import in_force as delegations_in_force
from telemed.services.pagination import Page, chunks

CLINICIANS = ("doctor", "nurse")


@dataclass(frozen=True, slots=True)
class Ask:
    """The notifications of one cause: ``kind`` for ``user_ids`` (see `record`)."""

    user_ids: Sequence[str]
    kind: str
    params: dict[str, Any]
    link: str
    cause_type: str
    cause_id: str
    subject: str | None = None
    title_code: str | None = None  # the title, when not the kind's own (messages.TITLES)


async def record(
    session: AsyncSession, *, user_ids: Iterable[str], kind: str, params: dict[str, Any],
    link: str, cause_type: str, cause_id: str, now: datetime | None = None,
    subject: str | None = None, title_code: str | None = None,
) -> list[Notification]:
    """One notification per active user who wants ``kind`` (added to ``session``); for a
    user with an unread one of the same kind and ``subject`` (the patient, the visit) from
    the fold window, that one says one more instead (``telemed.domain.quiet``)."""
    [made] = await record_many(session, [Ask(sorted(set(user_ids)), kind, params, link,
                                             cause_type, cause_id, subject, title_code)], now)
    return made


async def record_many(session: AsyncSession, asks: Sequence[Ask],
                      now: datetime | None = None) -> list[list[Notification]]:
    """`record` of many causes in order, as if recorded one after the other: the users'
    preferences and the notifications they may fold into read once (a few hundred ids per
    query), a later ask folding into what an earlier one made. Per ask, what it made or
    folded into."""
    wanted = sorted({u for ask in asks for u in ask.user_ids})
    if not wanted:
        return [[] for _ in asks]
    prefs: dict[str, Any] = {}
    for part in chunks(wanted):
        rows = await session.exec(select(User.id, User.notify_prefs)
                                  .where(col(User.id).in_(part)).where(col(User.active)))
        prefs.update(rows.all())
    now = now or utcnow()
    keys = sorted({k for ask in asks if (k := quiet.fold_key(ask.kind, ask.subject))})
    earlier = await _fold_candidates(session, keys, wanted, now)
    out: list[list[Notification]] = []
    for ask in asks:
        key = quiet.fold_key(ask.kind, ask.subject)
        made: list[Notification] = []
        for user_id in sorted(set(ask.user_ids)):
            if user_id not in prefs or not kinds.wants(prefs[user_id], ask.kind):
                continue
            standing = earlier.get((user_id, key), []) if key is not None else []
            into = next((n for n in standing if quiet.folds_into(
                kind=ask.kind, existing_created_at=n.created_at, existing_read=False,
                existing_cause_id=n.cause_id, cause_id=ask.cause_id, now=now)), None)
            if into is not None:
                into.fold_count += 1
                into.folded_at = now
                if into.dispatched_at is not None:
                    into.dispatched_at = None  # announced again (its messages are not re-sent)
                made.append(into)
                continue
            made.append(Notification(user_id=user_id, kind=ask.kind,
                                     title_code=ask.title_code or ask.kind,
                                     params=dict(ask.params), link=ask.link,
                                     cause_type=ask.cause_type, cause_id=ask.cause_id,
                                     created_at=now, fold_key=key))
            if key is not None:  # the newest: a later ask of this pass folds into it first
                standing.insert(0, made[-1])
                earlier[(user_id, key)] = standing
        session.add_all(made)
        out.append(made)
    return out


async def _fold_candidates(session: AsyncSession, keys: Sequence[str], users: Sequence[str],
                           now: datetime) -> dict[tuple[str, str], list[Notification]]:
    """Per (user, fold key), the unread notifications of the fold window, newest first
    (a few hundred users and keys per query, through ``ix_notifications_user_fold``)."""
    out: dict[tuple[str, str], list[Notification]] = {}
    for user_part in chunks(users) if keys else []:
        for key_part in chunks(keys):
            rows = (await session.exec(
                select(Notification).where(col(Notification.user_id).in_(user_part))
                .where(col(Notification.fold_key).in_(key_part))
                .where(col(Notification.created_at) > now - quiet.FOLD_WINDOW)
                .where(col(Notification.read_at).is_(None)))).all()
            for n in rows:
                if n.user_id is not None and n.fold_key is not None:
                    out.setdefault((n.user_id, n.fold_key), []).append(n)
    for standing in out.values():
        standing.sort(key=lambda n: n.created_at, reverse=True)
    return out


def alert_link(alert_id: str) -> str:
    """The page that acknowledges an alert with one click (after login)."""
    return f"/alerts/{alert_id}/acknowledge"


async def alert_critical(session: AsyncSession, alert: Alert,
                         patient: Patient | None = None,
                         now: datetime | None = None) -> list[Notification]:
    """``alert_critical`` for the care-team clinicians who opted in."""
    patient = patient or await session.get(Patient, alert.patient_id)
    if patient is None:
        return []
    team = (await session.exec(
        select(CareTeamMember.user_id).join(User, col(User.id) == col(CareTeamMember.user_id))
        .where(CareTeamMember.patient_id == alert.patient_id)
        .where(col(User.role).in_(CLINICIANS)))).all()
    return await record(session, user_ids=team, kind="alert_critical",
                        params={"initials": initials(patient.given_name, patient.family_name)},
                        link=alert_link(alert.id), cause_type="alert", cause_id=alert.id,
                        now=now, subject=alert.patient_id)


async def alert_escalated(session: AsyncSession, alert: Alert, patient: Patient,
                          user_ids: Sequence[str], step: int,
                          now: datetime | None = None) -> list[Notification]:
    """``alert_escalated`` (step ``step`` of the chain) for ``user_ids``."""
    [made] = await record_many(session, [escalated_ask(alert, patient, user_ids, step)], now)
    return made


def escalated_ask(alert: Alert, patient: Patient, user_ids: Sequence[str], step: int) -> Ask:
    """What `alert_escalated` records, for `record_many` (a pass's steps together)."""
    return Ask(user_ids, "alert_escalated",
               {"initials": initials(patient.given_name, patient.family_name), "step": step},
               alert_link(alert.id), "alert", alert.id, alert.patient_id)


async def patient_and_delegates(session: AsyncSession, patient_id: str) -> list[str]:
    """The patient's own user and their current delegates."""
    own = (await session.exec(select(User.id).where(User.patient_id == patient_id))).all()
    delegates = (await session.exec(
        select(Delegation.delegate_id).where(Delegation.patient_id == patient_id)
        .where(delegations_in_force()))).all()
    return sorted({*own, *delegates})


async def record_guests(session: AsyncSession, *, guests: Sequence[VisitGuest], kind: str,
                        params: dict[str, Any], cause_id: str,
                        now: datetime | None = None) -> list[Notification]:
    """One notification per guest with an address who was not revoked (visit reminders):
    sent by email only (a guest has no notification centre), the link made when sent."""
    now = now or utcnow()
    made = [Notification(guest_id=g.id, kind=kind, title_code=f"{kind}_guest",
                         params=dict(params), link=f"/visits/{g.visit_id}/guest",
                         cause_type="visit", cause_id=cause_id, created_at=now)
            for g in guests if g.email and g.revoked_at is None]
    session.add_all(made)
    return made


async def emergency_access(session: AsyncSession, patient_id: str,
                           access_id: str) -> list[Notification]:
    """Hook for break-glass access: ``emergency_access`` to the patient and delegates."""
    return await record(session, user_ids=await patient_and_delegates(session, patient_id),
                        kind="emergency_access", params={},
                        link=f"/patients/{patient_id}/privacy",
                        cause_type="emergency_access", cause_id=access_id, subject=patient_id)


async def document_available(session: AsyncSession, patient_id: str, cause_id: str,
                             link: str, cause_type: str = "visit") -> list[Notification]:
    """``document_available`` (a signed document: ``cause_type`` "document", or a visit's
    report) to the patient and delegates."""
    return await record(session, user_ids=await patient_and_delegates(session, patient_id),
                        kind="document_available", params={}, link=link,
                        cause_type=cause_type, cause_id=cause_id, subject=patient_id)


async def visit_changed(session: AsyncSession, patient_id: str, visit_id: str,
                        participant_ids: Iterable[str], actor_id: str,
                        patient: bool = True) -> list[Notification]:
    """``visit_changed`` (scheduled, moved or cancelled) to the patient and delegates (unless
    the visit does not invite them: ``patient`` False) and the participants, except the
    person who made the change."""
    told = portal_sees(patient, "notice")
    people = {*(await patient_and_delegates(session, patient_id) if told else ()),
              *participant_ids}
    people.discard(actor_id)
    return await record(session, user_ids=people, kind="visit_changed", params={},
                        link="/visits", cause_type="visit", cause_id=visit_id,
                        subject=visit_id)


async def teleconsult(session: AsyncSession, *, consult_id: str, patient: Patient,
                      user_ids: Iterable[str], event: str, urgent: bool = False
                      ) -> list[Notification]:
    """A teleconsult request's news for the other side (docs/notifications.md): a new
    request (``event`` "requested": ``teleconsult_urgent`` or ``teleconsult_request`` to the
    specialist or the specialty's members), else ``teleconsult_update`` titled by the move
    ("accepted", "declined", "more_info", "add_info", "answered", "cancelled"). The patient's
    initials and a link to the request only."""
    if event == "requested":
        kind = "teleconsult_urgent" if urgent else "teleconsult_request"
    else:
        kind = "teleconsult_update"
    return await record(session, user_ids=user_ids, kind=kind,
                        params={"initials": initials(patient.given_name, patient.family_name)},
                        link=f"/teleconsults/{consult_id}", cause_type="teleconsult",
                        cause_id=consult_id, title_code=kind if event == "requested"
                        else f"teleconsult_{event}")


async def document_cosign(session: AsyncSession, doc: Document) -> list[Notification]:
    """``document_cosign`` to the named co-signer of a document its other signer just
    signed: the patient's initials and a link to the page with the Co-sign form."""
    patient = await session.get(Patient, doc.patient_id)
    if patient is None or doc.cosigner_id is None:
        return []
    return await record(session, user_ids=[doc.cosigner_id], kind="document_cosign",
                        params={"initials": initials(patient.given_name, patient.family_name)},
                        link=cosign_page(doc.id, doc.teleconsult_id, doc.replaces_id),
                        cause_type="document", cause_id=doc.id)


# --- the owner's side -----------------------------------------------------------------


def notification_out(n: Notification, lang: str) -> dict[str, Any]:
    """The notification's public shape (docs/notifications.md), the title in ``lang``."""
    return {"id": n.id, "kind": n.kind,
            "title": title(lang, n.title_code, n.params, n.fold_count),
            "count": n.fold_count, "link": n.link, "created_at": n.created_at.isoformat(),
            "read_at": n.read_at.isoformat() if n.read_at else None}


async def list_for(session: AsyncSession, user_id: str, page: Page,
                   unread_only: bool = False) -> list[Notification]:
    """The user's notifications, newest first (cursor: created_at, id)."""
    stmt = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        stmt = stmt.where(col(Notification.read_at).is_(None))
    if page.after is not None:
        created, last_id = page.after
        at = datetime.fromisoformat(str(created))
        stmt = stmt.where((col(Notification.created_at) < at)
                          | ((col(Notification.created_at) == at)
                             & (col(Notification.id) < str(last_id))))
    stmt = stmt.order_by(col(Notification.created_at).desc(), col(Notification.id).desc())
    return list((await session.exec(stmt.limit(page.limit))).all())


async def mark_read(session: AsyncSession, user_id: str, notification_id: str) -> Notification:
    """Mark one of the user's notifications read (another user's: 404, nothing changed)."""
    n = await session.get(Notification, notification_id)
    if n is None or n.user_id != user_id:
        raise not_found("Notification")
    if n.read_at is None:
        n.read_at = utcnow()
        session.add(n)
        await session.commit()
    return n


async def mark_all_read(session: AsyncSession, user_id: str) -> None:
    """Every unread notification of the user, read now."""
    await session.exec(update(Notification)
                       .where(col(Notification.user_id) == user_id)
                       .where(col(Notification.read_at).is_(None))
                       .values(read_at=utcnow()))
    await session.commit()


async def unread_count(session: AsyncSession, user_id: str) -> int:
    """How many of the user's notifications are unread (the bell's number)."""
    result = await session.exec(
        select(func.count()).select_from(Notification)
        .where(Notification.user_id == user_id).where(col(Notification.read_at).is_(None)))
    return int(result.one())


@dataclass(frozen=True, slots=True)
class Sent:
    """Who was notified of a cause, when, by which channel, and whether it arrived."""

    user_id: str
    user_name: str
    kind: str
    created_at: datetime
    channel: str  # "app" for the notification centre itself
    status: str
    sent_at: datetime | None

    def out(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "user_name": self.user_name, "kind": self.kind,
                "created_at": self.created_at.isoformat(), "channel": self.channel,
                "status": self.status,
                "sent_at": self.sent_at.isoformat() if self.sent_at else None}


async def sent_for_cause(session: AsyncSession, cause_id: str) -> list[Sent]:
    """Every notification of a cause (an alert, a visit) and each of its deliveries."""
    rows = (await session.exec(
        select(Notification, User.display_name, NotificationDelivery)
        .join(User, col(User.id) == col(Notification.user_id))
        .outerjoin(NotificationDelivery,
                   col(NotificationDelivery.notification_id) == col(Notification.id))
        .where(Notification.cause_id == cause_id)
        .order_by(col(Notification.created_at), col(Notification.id)))).all()
    out: list[Sent] = []
    seen: set[str] = set()
    for n, name, delivery in rows:
        if n.id not in seen:
            seen.add(n.id)
            out.append(Sent(n.user_id or "", name, n.kind, n.created_at, "app",
                            "read" if n.read_at else "delivered", n.created_at))
        if delivery is not None:
            out.append(Sent(n.user_id or "", name, n.kind, n.created_at, delivery.channel,
                            delivery.status, delivery.sent_at))
    return out


async def alert_notifications(session: AsyncSession, who: Principal, alert_id: str,
                              request_id: str | None = None) -> list[Sent]:
    """Who was notified of an alert (same access rules as the alert; audited)."""
    alert = await session.get(Alert, alert_id)
    if alert is None:
        raise not_found("Alert")
    await authorize_patient(session, who, alert.patient_id, action="read", resource="alert",
                            resource_id=alert_id, reason=because("alert_notifications"),
                            request_id=request_id)
    sent = await sent_for_cause(session, alert_id)
    await session.commit()
    return sent


@dataclass(frozen=True, slots=True)
class FailedDelivery:
    """A delivery that did not arrive, as administrators see it (no clinical content)."""

    id: str
    notification_id: str
    kind: str
    user_id: str
    user_name: str
    channel: str
    address: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime

    def out(self) -> dict[str, Any]:
        return {"id": self.id, "notification_id": self.notification_id, "kind": self.kind,
                "user_id": self.user_id, "user_name": self.user_name,
                "channel": self.channel, "address": self.address, "status": self.status,
                "attempts": self.attempts, "last_error": self.last_error,
                "created_at": self.created_at.isoformat(),
                "next_attempt_at": self.next_attempt_at.isoformat()}


Failing = type[NotificationDelivery] | type[NotificationDigest]


def _failing(model: Failing, page: Page) -> Any:
    """The condition of `model`'s rows an administrator sees (failed, dead, or retrying after
    an error), before the page's cursor (created_at, id)."""
    condition = (col(model.status).in_(("failed", "dead"))
                 | ((col(model.status) == "pending") & col(model.last_error).is_not(None)))
    if page.after is not None:
        created, last_id = page.after
        at = datetime.fromisoformat(str(created))
        condition = condition & ((col(model.created_at) < at)
                                 | ((col(model.created_at) == at)
                                    & (col(model.id) < str(last_id))))
    return condition


async def failed_deliveries(session: AsyncSession, page: Page) -> list[FailedDelivery]:
    """Deliveries (and daily digests' emails, kind "digest") that failed for good, died, or
    are retrying after an error; newest first."""
    stmt: Any = (  # five columns: more than sqlmodel's typed select takes
        sa_select(NotificationDelivery, col(Notification.kind), col(Notification.user_id),
                  col(User.display_name), col(VisitGuest.name))
            .join(Notification,
                  col(Notification.id) == col(NotificationDelivery.notification_id))
            .outerjoin(User, col(User.id) == col(Notification.user_id))
            .outerjoin(VisitGuest, col(VisitGuest.id) == col(Notification.guest_id))
            .where(_failing(NotificationDelivery, page)))
    stmt = stmt.order_by(col(NotificationDelivery.created_at).desc(),
                         col(NotificationDelivery.id).desc()).limit(page.limit)
    out = [FailedDelivery(d.id, d.notification_id, kind, user_id or "",
                          name or f"{guest_name} (guest)", d.channel, d.address, d.status,
                          d.attempts, d.last_error, d.created_at, d.next_attempt_at)
           for d, kind, user_id, name, guest_name in (await session.exec(stmt)).all()]
    digests = (await session.exec(
        select(NotificationDigest, User.display_name)
        .join(User, col(User.id) == col(NotificationDigest.user_id))
        .where(_failing(NotificationDigest, page))
        .order_by(col(NotificationDigest.created_at).desc(),
                  col(NotificationDigest.id).desc()).limit(page.limit))).all()
    out += [FailedDelivery(d.id, "", "digest", d.user_id, name, "email", d.address, d.status,
                           d.attempts, d.last_error, d.created_at, d.next_attempt_at)
            for d, name in digests]
    out.sort(key=lambda f: (f.created_at, f.id), reverse=True)
    return out[:page.limit]


async def retry_delivery(session: AsyncSession, delivery_id: str) -> None:
    """An administrator sends a failed or dead delivery (or digest) again (from now,
    attempts kept)."""
    delivery: NotificationDelivery | NotificationDigest | None = (
        await session.get(NotificationDelivery, delivery_id)
        or await session.get(NotificationDigest, delivery_id))
    if delivery is None:
        raise not_found("Delivery")
    if delivery.status not in ("failed", "dead"):
        raise conflict("Only failed or dead deliveries can be retried.", "delivery_not_failed")
    delivery.status = "pending"
    delivery.next_attempt_at = utcnow()
    session.add(delivery)
    await session.commit()


async def alert_for_ack_page(session: AsyncSession, who: Principal, alert_id: str,
                             request_id: str | None = None
                             ) -> tuple[Alert, Patient, list[Sent]]:
    """The alert, its patient and who was notified, for the one-click acknowledge page."""
    alert = await session.get(Alert, alert_id)
    if alert is None:
        raise not_found("Alert")
    patient = await authorize_patient(session, who, alert.patient_id, action="read",
                                      resource="alert", resource_id=alert_id,
                                      reason=because("acknowledge_page"), request_id=request_id)
    sent = await sent_for_cause(session, alert_id)
    await session.commit()
    return alert, patient, sent


async def get_own(session: AsyncSession, user_id: str, notification_id: str) -> Notification:
    """One of the user's notifications (another user's: 404)."""
    n = await session.get(Notification, notification_id)
    if n is None or n.user_id != user_id:
        raise not_found("Notification")
    return n


async def user_language(session: AsyncSession, user_id: str) -> str | None:
    """The user's chosen language, if any."""
    user = await session.get(User, user_id)
    return user.language if user is not None else None
