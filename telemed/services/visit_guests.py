"""Guests of a visit: people without an account (a relative, an interpreter) whom a clinician
invites with a one-time link.

- `POST /api/v1/visits/{id}/guests {name}` (a clinician with access to the visit) creates a
  guest and returns a link `/visits/{id}/guest?t=<token>`: signed (purpose
  `visit-guest-link`), naming the visit and the guest, expiring when the visit's join window
  closes. The invitation is audited.
- The link works once: opening it marks the guest `used_at` and sets a cookie (purpose
  `visit-guest`, same claims and expiry, path `/visits/{id}/guest`) with which the guest's
  page fetches join tokens; a second browser opening the same link is refused.
- A guest joins the signalling room as the pseudonymous user `guest:<guest id>` with role
  `guest`: it waits like a patient until a clinician admits it.
- Limits: 1 guest for a televisit or teleassistance; for a teleconsult the guests fit within
  its 6 participants (clinicians + patient + guests). Revoked guests do not count.
- Revoking (`DELETE .../guests/{guest_id}`) refuses the link, the cookie and the join, and
  the caller disconnects the guest from the room.
- A guest's state (`guest_state`): `revoked`, `used` (the link was opened), `expired` (never
  opened, and the join window closed) or `pending`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import Visit, VisitGuest
from telemed.db.types import utcnow
from telemed.domain.audit_reasons import because
from telemed.errors import N_, ApiError, conflict, forbidden, invalid, not_found
from telemed.principal import Principal
from telemed.security import TokenError, TokenSigner
from telemed.services import audit, free_text
from telemed.services import visits as visit_service
from telemed.services.users import clean_email, email_problem

LINK_PURPOSE = "visit-guest-link"
COOKIE_PURPOSE = "visit-guest"
COOKIE_NAME = "telemed_guest"
GUEST_PREFIX = "guest:"
MAX_NAME = 80
MAX_GUESTS: dict[str, int] = {"televisit": 1, "teleassistance": 1}
TELECONSULT_TOTAL = 6

GuestState = Literal["pending", "used", "revoked", "expired"]


@dataclass(frozen=True)
class Invitation:
    """A new guest and its one-time link token."""

    guest: VisitGuest
    token: str
    expires_at: datetime


def guest_user_id(guest_id: str) -> str:
    """The pseudonymous user id a guest has in the signalling room and the chat."""
    return f"{GUEST_PREFIX}{guest_id}"


def invitation_link(public_url: str, visit_id: str, token: str) -> str:
    """The absolute one-time link a guest opens (`TELEMED_PUBLIC_URL` based)."""
    return f"{public_url}/visits/{visit_id}/guest?t={token}"


def guest_id_of(user_id: str) -> str | None:
    return user_id[len(GUEST_PREFIX):] if user_id.startswith(GUEST_PREFIX) else None


def clean_name(name: str) -> str:
    """The guest's display name, whitespace collapsed; 422 when empty, long, or holding
    control, bidi-override or invalid characters (refused, never stripped silently)."""
    text = free_text.optional(name, "name", max_length=MAX_NAME, collapse=True)
    if not text:
        raise invalid({"name": N_("Give the guest's name (at most 80 characters).")})
    return text


async def active_guests(session: AsyncSession, visit_id: str) -> list[VisitGuest]:
    rows = await session.exec(
        select(VisitGuest).where(VisitGuest.visit_id == visit_id)
        .where(col(VisitGuest.revoked_at).is_(None)).order_by(col(VisitGuest.created_at))
    )
    return list(rows.all())


def guest_limit(record: visit_service.VisitRecord) -> int:
    """How many guests the visit may have at once."""
    kind = record.visit.kind
    if kind in MAX_GUESTS:
        return MAX_GUESTS[kind]
    return max(0, TELECONSULT_TOTAL - len(record.participant_ids) - 1)


def check_invitable(visit: Visit, now: datetime | None = None) -> None:
    """409 unless guests may still be invited: the visit can still be joined (before its
    window opens is fine)."""
    now = now or utcnow()
    try:
        visit_service.check_joinable(visit, now)
    except ApiError as exc:
        if exc.code != "too_early":
            raise


def guest_state(guest: VisitGuest, visit: Visit, now: datetime | None = None) -> GuestState:
    """Where a guest's invitation stands; an unused link expires with the join window."""
    if guest.revoked_at is not None:
        return "revoked"
    if guest.used_at is not None:
        return "used"
    if (now or utcnow()) > visit_service.join_window(visit)[1]:
        return "expired"
    return "pending"


def _ttl(visit: Visit, now: datetime) -> int:
    return int((visit_service.join_window(visit)[1] - now).total_seconds())


async def _clinician_record(
    session: AsyncSession, who: Principal, visit_id: str, *, action: visit_service.Action,
    request_id: str | None,
) -> visit_service.VisitRecord:
    if not who.is_clinician:
        raise forbidden("Only doctors and nurses invite guests.")
    record = await visit_service.load_visit(session, visit_id)
    await visit_service.authorize_visit(session, who, record, action=action,
                                        resource="visit_guest", request_id=request_id)
    return record


async def list_guests(
    session: AsyncSession, who: Principal, visit_id: str, request_id: str | None = None
) -> list[VisitGuest]:
    """The visit's guests, revoked ones included (clinicians with access)."""
    await _clinician_record(session, who, visit_id, action="read", request_id=request_id)
    await session.commit()
    rows = await session.exec(
        select(VisitGuest).where(VisitGuest.visit_id == visit_id)
        .order_by(col(VisitGuest.created_at))
    )
    return list(rows.all())


async def invite_guest(
    session: AsyncSession, who: Principal, visit_id: str, name: str, *, secret: str,
    now: datetime | None = None, request_id: str | None = None, email: str | None = None,
) -> Invitation:
    """Invite a guest to an open visit; audited. ``email`` (optional): where the visit
    reminders go (telemed.notify.reminders); an invalid one is a 422, nothing changed."""
    now = now or utcnow()
    email = clean_email(email)
    if email is not None and (problem := email_problem(email)):
        raise invalid({"email": problem})
    record = await _clinician_record(session, who, visit_id, action="create",
                                     request_id=request_id)
    visit = record.visit
    try:
        display = clean_name(name)
        check_invitable(visit, now)
    except ApiError:
        await session.commit()  # keep the audit event
        raise
    if len(await active_guests(session, visit_id)) >= guest_limit(record):
        await session.commit()
        raise conflict("This visit already has as many guests as it allows.", "guest_limit")
    guest = VisitGuest(visit_id=visit_id, name=display, invited_by=who.user_id, created_at=now,
                       email=email)
    session.add(guest)
    await session.flush()
    audit.record(session, actor=who, action="create", resource="visit_guest",
                 patient_id=visit.patient_id, resource_id=guest.id,
                 reason=because("guest_invited", visit=visit_id), request_id=request_id)
    await session.commit()
    ttl = _ttl(visit, now)
    token = TokenSigner(secret).sign(LINK_PURPOSE, {"v": visit_id, "g": guest.id}, ttl)
    return Invitation(guest, token, visit_service.join_window(visit)[1])


async def revoke_guest(
    session: AsyncSession, who: Principal, visit_id: str, guest_id: str,
    request_id: str | None = None, *, strict: bool = False,
) -> VisitGuest:
    """Revoke a guest's invitation; audited. The caller disconnects the guest.

    Idempotent for the API; with `strict` (the page's button), a guest already revoked is
    a 409 `already_revoked` and nothing changes.
    """
    record = await _clinician_record(session, who, visit_id, action="update",
                                     request_id=request_id)
    guest = await session.get(VisitGuest, guest_id) if len(guest_id) <= 32 else None
    if guest is None or guest.visit_id != visit_id:
        await session.commit()
        raise not_found("Guest")
    if strict and guest.revoked_at is not None:
        await session.commit()
        raise conflict("This guest's invitation was already revoked.", "already_revoked")
    if guest.revoked_at is None:
        guest.revoked_at = utcnow()
        guest.revoked_by = who.user_id
        session.add(guest)
        audit.record(session, actor=who, action="delete", resource="visit_guest",
                     patient_id=record.visit.patient_id, resource_id=guest.id,
                     reason=because("guest_revoked"), request_id=request_id)
    await session.commit()
    return guest


# The guest's side (no account) ------------------------------------------------------


def _claims(secret: str, purpose: str, token: str, visit_id: str) -> str:
    try:
        claims = TokenSigner(secret).verify(purpose, token)
    except TokenError:
        raise ApiError(403, "invalid_link",
                       "This invitation link is not valid or has expired.") from None
    guest_id = claims.get("g")
    if claims.get("v") != visit_id or not isinstance(guest_id, str):
        raise ApiError(403, "invalid_link", "This invitation link is not valid or has expired.")
    return guest_id


async def _live_guest(session: AsyncSession, guest_id: str, visit_id: str) -> VisitGuest:
    guest = await session.get(VisitGuest, guest_id)
    if guest is None or guest.visit_id != visit_id:
        raise ApiError(403, "invalid_link", "This invitation link is not valid or has expired.")
    if guest.revoked_at is not None:
        raise ApiError(403, "guest_revoked", "This invitation was withdrawn.")
    return guest


async def open_link(
    session: AsyncSession, secret: str, visit_id: str, token: str, *,
    cookie: str | None = None,
) -> tuple[VisitGuest, str]:
    """Use a one-time link: the guest and the cookie value for its page.

    A link already used is refused, unless the browser holds that guest's cookie (the guest
    opened the link again in the same browser).
    """
    guest_id = _claims(secret, LINK_PURPOSE, token, visit_id)
    guest = await _live_guest(session, guest_id, visit_id)
    if guest.used_at is not None:
        held = None
        if cookie:
            try:
                held = _claims(secret, COOKIE_PURPOSE, cookie, visit_id)
            except ApiError:
                held = None
        if held != guest.id:
            raise ApiError(410, "link_used", "This invitation link was already used.")
    else:
        guest.used_at = utcnow()
        session.add(guest)
        await session.commit()
    visit = await session.get(Visit, visit_id)
    assert visit is not None
    ttl = max(1, _ttl(visit, utcnow()))
    value = TokenSigner(secret).sign(COOKIE_PURPOSE, {"v": visit_id, "g": guest.id}, ttl)
    return guest, value


async def guest_of_cookie(
    session: AsyncSession, secret: str, visit_id: str, cookie: str | None
) -> VisitGuest:
    """The (not revoked) guest whose cookie the browser sent, or 403."""
    if not cookie:
        raise ApiError(403, "invalid_link", "This invitation link is not valid or has expired.")
    return await _live_guest(session, _claims(secret, COOKIE_PURPOSE, cookie, visit_id),
                             visit_id)


async def guest_names(session: AsyncSession, user_ids: list[str]) -> dict[str, str]:
    """Display names of guests by their pseudonymous user id."""
    ids = [gid for uid in user_ids if (gid := guest_id_of(uid)) is not None]
    if not ids:
        return {}
    rows = await session.exec(select(VisitGuest).where(col(VisitGuest.id).in_(ids)))
    return {guest_user_id(g.id): g.name for g in rows.all()}
