"""A person's sessions as they see them: listed with device, address and last use, each
revocable; OIDC sessions included."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.bus.events import CredentialsRevoked
from telemed.db.events import record_event
from telemed.db.models import UserSession
from telemed.db.types import utcnow


async def session_row(db: AsyncSession, session_id: str) -> UserSession | None:
    """One session row by id."""
    if not session_id or len(session_id) > 32:
        return None
    return await db.get(UserSession, session_id)


async def open_sessions_of(db: AsyncSession, user_id: str) -> list[UserSession]:
    """The user's open sessions and tokens, most recently used first."""
    rows = await db.exec(
        select(UserSession).where(col(UserSession.user_id) == user_id)
        .where(col(UserSession.revoked_at).is_(None))
        .where(col(UserSession.expires_at) > utcnow())
        .order_by(col(UserSession.last_used_at).desc(), col(UserSession.created_at).desc()))
    return list(rows.all())


def handle_of(session_id: str) -> str:
    """The public name of a session: the id itself (what a cookie or token names) is never
    shown, even to its owner."""
    return hashlib.sha256(f"session:{session_id}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class SessionView:
    """One open session as its owner sees it."""

    handle: str
    kind: str
    method: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime
    user_agent: str | None
    address: str | None
    second_factor: str | None
    current: bool

    def dump(self) -> dict[str, Any]:
        return {"id": self.handle, "kind": self.kind, "method": self.method,
                "created_at": self.created_at.isoformat(),
                "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
                "expires_at": self.expires_at.isoformat(), "user_agent": self.user_agent,
                "address": self.address, "second_factor": self.second_factor,
                "current": self.current}


async def my_sessions(db: AsyncSession, user_id: str, current: str | None) -> list[SessionView]:
    """The user's open sessions (browsers and API tokens), most recently used first."""
    return [SessionView(handle_of(r.id), r.kind, r.method or "password", r.created_at,
                        r.last_used_at, r.expires_at, r.user_agent, r.address,
                        r.second_factor, r.id == current)
            for r in await open_sessions_of(db, user_id)]


async def revoke_my_session(db: AsyncSession, user_id: str, handle: str) -> str | None:
    """End one of the user's own open sessions by its handle (committed; its live channels
    end); its id, or None when the user has no such open session (another person's session,
    or a handle that is not one, is "no such")."""
    if not handle.isascii():  # no handle is; compare_digest refuses to compare one
        return None
    for row in await open_sessions_of(db, user_id):
        if secrets.compare_digest(handle_of(row.id), handle):
            row.revoked_at = utcnow()
            row.revoked_reason = "revoked_by_user"
            db.add(row)
            record_event(db, CredentialsRevoked(user_id, "revoked_by_user", session_id=row.id))
            await db.commit()
            return row.id
    return None
