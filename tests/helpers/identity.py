"""Second factors set up directly through the identity package."""

from __future__ import annotations

import pyotp
from aiohttp import web

from telemed import keys
from telemed.db.models import User
from telemed.identity.totp import enrol, new_enrolment


async def with_totp(app: web.Application, user_id: str) -> str:
    """Turn TOTP on for the user (the current step is spent); its secret."""
    async with app[keys.SESSIONS]() as session:
        user = await session.get(User, user_id)
        assert user is not None
        offer = new_enrolment(user.username)
        assert await enrol(session, user, offer.secret, pyotp.TOTP(offer.secret).now())
    return offer.secret
