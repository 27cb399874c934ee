"""WebAuthn second factor (security keys, passkeys) with py_webauthn.

The relying party is this site: its id is the host of `PUBLIC_URL` and the only accepted
origin is `PUBLIC_URL` itself. Challenges are random, kept by the caller (the browser's
encrypted session) and used once. Attestation is not required ("none"): the key proves
possession, not its make. A signature counter that does not grow is refused (a cloned key).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import PublicKeyCredentialDescriptor, UserVerificationRequirement

from telemed.db.models import User, WebAuthnCredential
from telemed.identity.accounts import record_event

RP_NAME = "Telemed"
MAX_KEYS = 10


@dataclass(frozen=True)
class RelyingParty:
    """This site as WebAuthn sees it."""

    rp_id: str
    origin: str

    @classmethod
    def of(cls, public_url: str) -> RelyingParty:
        return cls(urlsplit(public_url).hostname or "localhost", public_url.rstrip("/"))


async def keys_of(db: AsyncSession, user_id: str) -> list[WebAuthnCredential]:
    return list((await db.exec(select(WebAuthnCredential)
                               .where(col(WebAuthnCredential.user_id) == user_id))).all())


async def registration_options(db: AsyncSession, rp: RelyingParty,
                               user: User) -> tuple[str, str]:
    """(options JSON for navigator.credentials.create, the challenge to keep)."""
    existing = await keys_of(db, user.id)
    options = generate_registration_options(
        rp_id=rp.rp_id, rp_name=RP_NAME, user_name=user.username,
        user_id=user.id.encode(), user_display_name=user.display_name,
        exclude_credentials=[PublicKeyCredentialDescriptor(id=base64url_to_bytes(k.id))
                             for k in existing])
    return options_to_json(options), bytes_to_base64url(options.challenge)


async def register(db: AsyncSession, rp: RelyingParty, user: User, *, challenge: str,
                   credential: dict[str, Any], name: str) -> bool:
    """Store a new key once its registration verifies (committed); False when it does not."""
    if len(await keys_of(db, user.id)) >= MAX_KEYS:
        return False
    try:
        verified = verify_registration_response(
            credential=json.dumps(credential), expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=rp.rp_id, expected_origin=rp.origin)
    except (WebAuthnException, ValueError, KeyError, TypeError):  # any malformed answer
        return False
    key_id = bytes_to_base64url(verified.credential_id)
    if await db.get(WebAuthnCredential, key_id) is not None:
        return False
    db.add(WebAuthnCredential(id=key_id, user_id=user.id, sign_count=verified.sign_count,
                              public_key=bytes_to_base64url(verified.credential_public_key),
                              name=(name.strip() or "Security key")[:64]))
    record_event(db, user_id=user.id, actor_id=user.id, kind="webauthn_registered")
    await db.commit()
    return True


async def authentication_options(db: AsyncSession, rp: RelyingParty,
                                 user_id: str) -> tuple[str, str] | None:
    """(options JSON for navigator.credentials.get, the challenge), None without keys."""
    existing = await keys_of(db, user_id)
    if not existing:
        return None
    options = generate_authentication_options(
        rp_id=rp.rp_id, user_verification=UserVerificationRequirement.DISCOURAGED,
        allow_credentials=[PublicKeyCredentialDescriptor(id=base64url_to_bytes(k.id))
                           for k in existing])
    return options_to_json(options), bytes_to_base64url(options.challenge)


async def authenticate(db: AsyncSession, rp: RelyingParty, user_id: str, *, challenge: str,
                       credential: dict[str, Any]) -> bool:
    """True when `credential` is a valid assertion of one of the user's keys for
    `challenge`; the key's counter moves forward (committed)."""
    key_id = credential.get("id") if isinstance(credential, dict) else None
    key = await db.get(WebAuthnCredential, key_id) if isinstance(key_id, str) else None
    if key is None or key.user_id != user_id:
        return False
    try:
        verified = verify_authentication_response(
            credential=json.dumps(credential), expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=rp.rp_id, expected_origin=rp.origin,
            credential_public_key=base64url_to_bytes(key.public_key),
            credential_current_sign_count=key.sign_count)
    except (WebAuthnException, ValueError, KeyError, TypeError):
        return False
    result = await db.exec(update(WebAuthnCredential)
                           .where(col(WebAuthnCredential.id) == key.id,
                                  col(WebAuthnCredential.sign_count) == key.sign_count)
                           .values(sign_count=verified.new_sign_count))
    await db.commit()
    return bool(result.rowcount == 1)
