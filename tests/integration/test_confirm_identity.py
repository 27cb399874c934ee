"""confirm_identity: the service other features call to re-ask the signed-in person."""

from __future__ import annotations

import time
from typing import Any

import pyotp
from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.db.models import User
from telemed.identity.confirm import confirm_identity
from telemed.identity.totp import enrol, new_enrolment
from tests.conftest import PASSWORD, World


async def test_password_or_fresh_code_confirms_nothing_else(
        client: TestClient[Any, Any], world: World) -> None:
    doctor, nurse = await world.user("doctor"), await world.user("nurse")
    async with client.server.app[keys.SESSIONS]() as db:
        assert await confirm_identity(db, doctor["id"], password=PASSWORD)
        assert not await confirm_identity(db, doctor["id"], password=PASSWORD + "x")
        assert not await confirm_identity(db, doctor["id"], code="123456")  # no factor yet
        assert not await confirm_identity(db, doctor["id"])
        assert not await confirm_identity(db, "no-such-user", password=PASSWORD)
        user = await db.get(User, doctor["id"])
        assert user is not None
        offer = new_enrolment(user.username)
        codes = await enrol(db, user, offer.secret, pyotp.TOTP(offer.secret).now())
        assert codes
        fresh = pyotp.TOTP(offer.secret).at(time.time() + 30)
        assert await confirm_identity(db, doctor["id"], code=fresh)
        assert not await confirm_identity(db, doctor["id"], code=fresh)  # used once
        assert not await confirm_identity(db, doctor["id"], code=codes[0])  # not for signing
        assert not await confirm_identity(db, nurse["id"], code=fresh)  # another person
