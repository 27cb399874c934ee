"""Confirm that the person at the keyboard is the signed-in user, again: before signing a
clinical document, for example. The password, or (for a user with one) a second-factor
code that has not been used before.

    from telemed.identity.confirm import confirm_identity
    if not await confirm_identity(db, who.user_id, password=form_password):
        raise ApiError(403, "identity_not_confirmed", "...")

Callers limit the attempts as for logins (telemed.security.LoginGuard).
"""

from __future__ import annotations

import asyncio

from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import User
from telemed.identity.totp import check_totp
from telemed.security import verify_password


async def confirm_identity(db: AsyncSession, user_id: str, *, password: str | None = None,
                           code: str | None = None) -> bool:
    """True when `password` is the user's, or `code` is their current, unused TOTP code.

    A second-factor code is accepted only from a user who has one; recovery codes are not
    (they are for getting in, not for signing)."""
    user = await db.get(User, user_id)
    if user is None or not user.active:
        return False
    if code:
        return user.totp_secret is not None and await check_totp(db, user_id, code)
    if password:
        return await asyncio.to_thread(verify_password, user.password_hash, password)
    return False
