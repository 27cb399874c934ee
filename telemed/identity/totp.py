"""Second factors: TOTP (RFC 6238) with recovery codes; resets by an administrator.

A TOTP code is accepted once: the user's last accepted time step is stored and moved forward
with a compare-and-set, so a code seen over a shoulder (or replayed) within its 30 seconds is
refused. Recovery codes are random, shown once, stored as SHA-256 and each spent once.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

import pyotp
import segno
from sqlalchemy import delete, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import RecoveryCode, User, WebAuthnCredential
from telemed.db.types import utcnow
from telemed.domain.identity import totp_step_acceptable
from telemed.identity.accounts import record_event

ISSUER = "Telemed"
RECOVERY_CODES = 10
STEP_SECONDS = 30
VALID_WINDOW = 1  # one step either side: a clock up to 30 s off still works


@dataclass(frozen=True)
class Enrolment:
    """A TOTP secret offered to the user, with its QR code (an SVG data URI)."""

    secret: str
    uri: str
    qr: str


def new_enrolment(username: str, secret: str | None = None) -> Enrolment:
    """A secret (fresh unless given) and the QR code an authenticator app scans."""
    secret = secret or pyotp.random_base32()
    uri = pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)
    return Enrolment(secret, uri, segno.make(uri, error="m").svg_data_uri(scale=5))


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.replace("-", "").strip().lower().encode()).hexdigest()


def _new_recovery_code() -> str:
    raw = secrets.token_hex(5)  # 40 bits each, ten of them, each usable once
    return f"{raw[:5]}-{raw[5:]}"


def _digits(code: str) -> str:
    return "".join(code.split())


def _matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step whose TOTP code is `code` (within the window), or None."""
    if not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    current = int(now // STEP_SECONDS)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


async def _replace_recovery_codes(db: AsyncSession, user_id: str) -> list[str]:
    await db.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    for code in codes:
        db.add(RecoveryCode(user_id=user_id, code_hash=_code_hash(code)))
    return codes


async def enrol(db: AsyncSession, user: User, secret: str, code: str, *,
                now: float | None = None) -> list[str] | None:
    """Turn on TOTP with `secret` once `code` proves the app has it (committed); the new
    recovery codes (shown once), or None when the code is wrong."""
    step = _matching_step(secret, _digits(code), time.time() if now is None else now)
    if step is None or len(secret) < 16:
        return None
    user.totp_secret = secret
    user.totp_last_step = step
    db.add(user)
    codes = await _replace_recovery_codes(db, user.id)
    record_event(db, user_id=user.id, actor_id=user.id, kind="totp_enrolled")
    await db.commit()
    return codes


async def check_totp(db: AsyncSession, user_id: str, code: str, *,
                     now: float | None = None) -> bool:
    """True when `code` is the user's current TOTP code, not used before (committed)."""
    user = await db.get(User, user_id)
    if user is None or user.totp_secret is None:
        return False
    step = _matching_step(user.totp_secret, _digits(code), time.time() if now is None else now)
    last = user.totp_last_step
    if step is None or not totp_step_acceptable(step, last):
        return False
    guard = (col(User.totp_last_step).is_(None) if last is None
             else col(User.totp_last_step) == last)
    result = await db.exec(update(User).where(col(User.id) == user_id, guard)
                           .values(totp_last_step=step))
    await db.commit()
    return bool(result.rowcount == 1)


async def use_recovery_code(db: AsyncSession, user_id: str, code: str) -> bool:
    """True when `code` is one of the user's unused recovery codes; it is spent (committed)."""
    cleaned = code.strip()
    if not 6 <= len(cleaned) <= 20:
        return False
    result = await db.exec(
        update(RecoveryCode)
        .where(col(RecoveryCode.user_id) == user_id,
               col(RecoveryCode.code_hash) == _code_hash(cleaned),
               col(RecoveryCode.used_at).is_(None))
        .values(used_at=utcnow()))
    if result.rowcount == 1:
        record_event(db, user_id=user_id, actor_id=user_id, kind="recovery_code_used")
    await db.commit()
    return bool(result.rowcount == 1)


async def check_second_factor(db: AsyncSession, user_id: str, code: str) -> bool:
    """A TOTP code or, failing that, a recovery code."""
    return await check_totp(db, user_id, code) or await use_recovery_code(db, user_id, code)


async def has_second_factor(db: AsyncSession, user: User) -> bool:
    """Whether the user has TOTP or a WebAuthn credential."""
    if user.totp_secret is not None:
        return True
    count = (await db.exec(select(func.count()).select_from(WebAuthnCredential)
                           .where(col(WebAuthnCredential.user_id) == user.id))).one()
    return int(count) > 0


async def recovery_codes_left(db: AsyncSession, user_id: str) -> int:
    """How many unused recovery codes the user has."""
    return int((await db.exec(
        select(func.count()).select_from(RecoveryCode)
        .where(col(RecoveryCode.user_id) == user_id, col(RecoveryCode.used_at).is_(None))
    )).one())


async def reset_second_factor(db: AsyncSession, user: User, *, actor_id: str,
                              reason: str) -> None:
    """Remove every second factor of `user` (lost phone or key), recording who and why
    (not committed)."""
    user.totp_secret = None
    user.totp_last_step = None
    db.add(user)
    await db.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user.id))
    await db.exec(delete(WebAuthnCredential).where(col(WebAuthnCredential.user_id) == user.id))
    record_event(db, user_id=user.id, actor_id=actor_id, kind="second_factor_reset",
                 detail=reason)
