"""Which accounts a fiscal number opens, and the identity events recorded about them."""

from __future__ import annotations

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import Delegation, IdentityEvent, Patient, User
from telemed.domain.identity import Candidate


async def accounts_for_fiscal_code(db: AsyncSession, code: str) -> list[Candidate]:
    """The active accounts of the person with fiscal code `code`: the portal account of their
    patient record, and any staff or delegate account that carries the code."""
    own_patient = select(Patient.id).where(col(Patient.fiscal_code) == code)
    rows = (await db.exec(
        select(User).where(col(User.active))
        .where(or_(col(User.fiscal_code) == code, col(User.patient_id).in_(own_patient)))
        .order_by(col(User.role), col(User.username))
    )).all()
    delegates = set((await db.exec(
        select(Delegation.delegate_id)
        .where(col(Delegation.delegate_id).in_([u.id for u in rows]))
        .where(col(Delegation.revoked_at).is_(None))
    )).all()) if rows else set()
    return [Candidate(user_id=u.id, role=u.role, label=_label(u, u.id in delegates))
            for u in rows]


def _label(user: User, is_delegate: bool) -> str:
    if user.role == "patient":
        return "patient" if user.patient_id else ("delegate" if is_delegate else "patient")
    return user.role


def record_event(db: AsyncSession, *, user_id: str, kind: str, actor_id: str | None = None,
                 detail: str | None = None) -> None:
    """Add an identity event (not committed)."""
    db.add(IdentityEvent(user_id=user_id, actor_id=actor_id, kind=kind,
                         detail=detail[:1000] if detail else None))


async def events_of(db: AsyncSession, user_id: str, limit: int = 50) -> list[IdentityEvent]:
    """The user's identity events, newest first."""
    return list((await db.exec(
        select(IdentityEvent).where(col(IdentityEvent.user_id) == user_id)
        .order_by(col(IdentityEvent.id).desc()).limit(limit))).all())
