"""Server-side sessions: every browser login and every API access token is one revocable row.

A cookie or an access token carries only the row's id (``sid``); a request is authenticated
while that row is neither revoked nor expired and its user is active. Logging out revokes
one row; "log out everywhere", a password change and deactivation revoke a user's rows.
Nothing is compared by time, so a token issued a microsecond before a revocation dies with it.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.bus.events import CredentialsRevoked
from telemed.db.events import record_event
from telemed.db.models import User, UserSession
from telemed.db.types import utcnow
from telemed.security import TokenSigner

ACCESS_PURPOSE = "access"
KEEP_EXPIRED = timedelta(days=1)  # expired rows are deleted a day later, at the next login


TOUCH_EVERY = timedelta(seconds=60)  # how often a session's last use is written


async def open_session(db: AsyncSession, user: User, *, kind: str, ttl_seconds: int,
                       **details: str | None) -> UserSession:
    """A new session row for `user` (not committed). `details`: how the person logged in
    (`method`, `second_factor`, `acr`, `id_token`) and from where (`user_agent`, `address`)."""
    now = utcnow()
    row = UserSession(id=secrets.token_hex(16), user_id=user.id, kind=kind, created_at=now,
                      expires_at=now + timedelta(seconds=ttl_seconds), last_used_at=now)
    for name in ("method", "second_factor", "acr", "id_token", "user_agent", "address"):
        setattr(row, name, details.get(name))
    db.add(row)
    await db.exec(delete(UserSession).where(
        col(UserSession.user_id) == user.id, col(UserSession.expires_at) < now - KEEP_EXPIRED))
    return row


async def issue_access_token(db: AsyncSession, user: User, *, secret: str,
                             ttl_seconds: int, **details: str | None) -> str:
    """A bearer token backed by a new session row (committed); `details` as open_session."""
    row = await open_session(db, user, kind="bearer", ttl_seconds=ttl_seconds, **details)
    await db.commit()
    return TokenSigner(secret).sign(ACCESS_PURPOSE, {"sub": user.id, "sid": row.id},
                                    ttl_seconds)


async def live_session(db: AsyncSession, session_id: str,
                       now: datetime | None = None) -> tuple[UserSession, User] | None:
    """The session and its user while the session is open and the user active, else None."""
    if not session_id or len(session_id) > 32:
        return None
    now = now or utcnow()
    found = (await db.exec(
        select(UserSession, User).join(User, col(User.id) == col(UserSession.user_id))
        .where(col(UserSession.id) == session_id)
    )).first()
    if found is None:
        return None
    row, user = found
    if row.revoked_at is not None or row.expires_at <= now or not user.active:
        return None
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
        await db.exec(update(UserSession).where(col(UserSession.id) == row.id)
                      .values(last_used_at=now))
        await db.commit()
    return row, user


async def open_session_ids(db: AsyncSession, session_ids: set[str]) -> set[str]:
    """Which of `session_ids` are still open (with an active user)."""
    if not session_ids:
        return set()
    rows = await db.exec(
        select(UserSession.id).join(User, col(User.id) == col(UserSession.user_id))
        .where(col(UserSession.id).in_(sorted(session_ids)))
        .where(col(UserSession.revoked_at).is_(None))
        .where(col(UserSession.expires_at) > utcnow())
        .where(col(User.active))
    )
    return set(rows.all())


async def revoke_session(db: AsyncSession, session_id: str, reason: str) -> str | None:
    """Revoke one session (committed; its live channels end): the id of its user, or None
    when it was not open."""
    row = await db.get(UserSession, session_id)
    if row is None or row.revoked_at is not None:
        return None
    row.revoked_at = utcnow()
    row.revoked_reason = reason
    db.add(row)
    record_event(db, CredentialsRevoked(row.user_id, reason, session_id=session_id))
    await db.commit()
    return row.user_id


async def revoke_user_sessions(db: AsyncSession, user_id: str, reason: str, *,
                               keep: str | None = None) -> None:
    """Revoke every open session of a user except `keep` (not committed; their live
    channels end once it is)."""
    query = (update(UserSession)
             .where(col(UserSession.user_id) == user_id)
             .where(col(UserSession.revoked_at).is_(None)))
    if keep is not None:
        query = query.where(col(UserSession.id) != keep)
    await db.exec(query.values(revoked_at=utcnow(), revoked_reason=reason))
    record_event(db, CredentialsRevoked(user_id, reason, except_session=keep))


async def revoke_sessions_opened_by(db: AsyncSession, user_id: str, method: str,
                                    reason: str) -> int:
    """Revoke the user's open sessions that were opened by `method` (e.g. "oidc"), each
    with its own event so only their live channels end (not committed); how many."""
    ids = list((await db.exec(
        select(UserSession.id).where(col(UserSession.user_id) == user_id)
        .where(col(UserSession.method) == method)
        .where(col(UserSession.revoked_at).is_(None)))).all())
    if ids:
        await db.exec(update(UserSession).where(col(UserSession.id).in_(ids))
                      .values(revoked_at=utcnow(), revoked_reason=reason))
    for session_id in ids:
        record_event(db, CredentialsRevoked(user_id, reason, session_id=session_id))
    return len(ids)
