"""First passwords of portal accounts: an administrator never knows them.

An administrator creates a patient's (or a delegate's) portal account without a password;
the account gets an activation link, valid for `ACTIVATION_DAYS`, with which the person sets
their own password (or they sign in with SPID / CIE and never need one). The link is signed
and bound to the account's current password hash, so it works once: setting the password
changes the hash and every earlier link dies.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets

from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import User
from telemed.errors import ApiError, invalid
from telemed.identity.accounts import record_event
from telemed.security import TokenError, TokenSigner, hash_password, password_problem

ACTIVATION_PURPOSE = "activation"
ACTIVATION_DAYS = 7
# Not an argon2 hash: verify_password() refuses every password against it.
UNUSABLE_PREFIX = "!activation-pending:"


def unusable_password() -> str:
    """The password hash of an account waiting for its owner's first password."""
    return UNUSABLE_PREFIX + secrets.token_hex(16)


def _binding(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:24]


def activation_token(secret: str, user: User) -> str:
    """A one-time link token for `user` to set their first password."""
    return TokenSigner(secret).sign(ACTIVATION_PURPOSE,
                                    {"sub": user.id, "h": _binding(user.password_hash)},
                                    ACTIVATION_DAYS * 86400)


def activation_url(public_url: str, secret: str, user: User) -> str:
    """The one-time link with which the owner of a new portal account sets its password."""
    return f"{public_url}/activate?token={activation_token(secret, user)}"


def _refused() -> ApiError:
    return ApiError(400, "activation_invalid",
                    "This activation link is not valid: it was used already, has expired or "
                    "was mistyped. Ask the service for a new one.")


async def activation_user(db: AsyncSession, secret: str, token: str) -> User:
    """The active account a valid, unused activation token names; else 400."""
    try:
        claims = TokenSigner(secret).verify(ACTIVATION_PURPOSE, token)
    except TokenError:
        raise _refused() from None
    user = await db.get(User, str(claims.get("sub", "")))
    if (user is None or not user.active
            or not secrets.compare_digest(str(claims.get("h", "")),
                                          _binding(user.password_hash))):
        raise _refused()
    return user


async def activate(db: AsyncSession, secret: str, token: str, password: str) -> User:
    """Set the first password through an activation link (committed): 400 for a bad link,
    422 for a password the policy refuses; nothing changes on either."""
    user = await activation_user(db, secret, token)
    problem = password_problem(password, username=user.username, context=(user.display_name,))
    if problem:
        raise invalid({"password": problem})
    user.password_hash = await asyncio.to_thread(hash_password, password)
    db.add(user)
    record_event(db, user_id=user.id, actor_id=user.id, kind="activated")
    await db.commit()
    return user
