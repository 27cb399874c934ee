"""A person's sessions as they see them: listed with device, address and last use, each
revocable; OIDC sessions included."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

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
