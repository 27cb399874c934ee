"""WebAuthn in the browser: adding a security key or passkey (signed in, or as the first
second factor of a login that requires one), and using it as the second factor at login.
JSON endpoints for web/static/webauthn.js; the challenge lives in the encrypted session
cookie and is used once."""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp import web
from aiohttp_session import get_session

from telemed import keys
from telemed.db.models import User
from telemed.identity.security_keys import (
    RelyingParty,
    authenticate,
    authentication_options,
    register,
    registration_options,
)
from telemed.identity.totp import has_second_factor
from telemed.principal import ROLES, principal, public, requires
from telemed.services.users import find_user
from telemed.views.signin import finish_pending, pending_user

routes = web.RouteTableDef()

C = TypeVar("C")
CHALLENGE = "webauthn_challenge"
MAX_BODY = 64 * 1024


def _rp(request: web.Request) -> RelyingParty:
    return RelyingParty.of(request.app[keys.SETTINGS].effective_public_url)


def _refused(code: str, status: int = 400) -> web.Response:
    return web.json_response({"error": {"code": code, "message": code.replace("_", " ")}},
                             status=status)


async def _json(request: web.Request) -> dict[str, Any] | None:
    if request.content_length is not None and request.content_length > MAX_BODY:
        return None
    try:
        data = await request.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


async def _take_challenge(request: web.Request) -> str | None:
    stored = (await get_session(request)).pop(CHALLENGE, None)
    return stored if isinstance(stored, str) else None


async def _answer(request: web.Request,
                  caller: C | None) -> tuple[C, dict[str, Any], str] | web.Response:
    """The caller, the browser's answer to a challenge and that challenge (taken: used
    once), or the refusal: 401 without a caller, 400 for a malformed answer or none asked."""
    data = await _json(request)
    challenge = await _take_challenge(request)
    if caller is None:
        return _refused("no_login", 401)
    if data is None or challenge is None or not isinstance(data.get("credential"), dict):
        return _refused("invalid_request")
    return caller, data, challenge


@routes.post("/account/security-keys/options")
@requires(*ROLES)
async def add_key_options(request: web.Request) -> web.Response:
    async with request.app[keys.SESSIONS]() as db:
        user = await find_user(db, principal(request).user_id)
        assert user is not None
        options, challenge = await registration_options(db, _rp(request), user)
    (await get_session(request))[CHALLENGE] = challenge
    return web.Response(text=options, content_type="application/json")


@routes.post("/account/security-keys")
@requires(*ROLES)
async def add_key(request: web.Request) -> web.Response:
    answer = await _answer(request, principal(request))
    if isinstance(answer, web.Response):
        return answer
    _, data, challenge = answer
    async with request.app[keys.SESSIONS]() as db:
        user = await find_user(db, principal(request).user_id)
        assert user is not None
        added = await register(db, _rp(request), user, challenge=challenge,
                               credential=data["credential"], name=str(data.get("name", "")))
    if not added:
        return _refused("key_not_registered")
    return web.json_response({"status": "registered"}, status=201)


async def _enrolling(request: web.Request) -> tuple[User, dict[str, Any]] | None:
    """The pending login of a user without a second factor (one with a factor proves it,
    never adds another at login), or None."""
    found = await pending_user(request)
    if found is None:
        return None
    async with request.app[keys.SESSIONS]() as db:
        if await has_second_factor(db, found[0]):
            return None
    return found


@routes.post("/login/second-factor/enrol/key/options")
@public
async def enrol_key_options(request: web.Request) -> web.Response:
    """A login that requires a second factor, of a user with none: a security key can be
    the first one (instead of the authenticator app)."""
    found = await _enrolling(request)
    if found is None:
        return _refused("no_login", 401)
    async with request.app[keys.SESSIONS]() as db:
        options, challenge = await registration_options(db, _rp(request), found[0])
    (await get_session(request))[CHALLENGE] = challenge
    return web.Response(text=options, content_type="application/json")


@routes.post("/login/second-factor/enrol/key")
@public
async def enrol_key(request: web.Request) -> web.Response:
    """Register the key; the login's session opens with it as the second factor."""
    answer = await _answer(request, await _enrolling(request))
    if isinstance(answer, web.Response):
        return answer
    (user, pending), data, challenge = answer
    async with request.app[keys.SESSIONS]() as db:
        added = await register(db, _rp(request), user, challenge=challenge,
                               credential=data["credential"], name=str(data.get("name", "")))
    if not added:
        return _refused("key_not_registered")
    redirect = await finish_pending(request, user, pending, "webauthn")
    return web.json_response({"next": str(redirect.location)}, status=201)


@routes.post("/login/second-factor/key/options")
@public
async def use_key_options(request: web.Request) -> web.Response:
    found = await pending_user(request)
    if found is None:
        return _refused("no_login", 401)
    async with request.app[keys.SESSIONS]() as db:
        offer = await authentication_options(db, _rp(request), found[0].id)
    if offer is None:
        return _refused("no_security_key", 404)
    (await get_session(request))[CHALLENGE] = offer[1]
    return web.Response(text=offer[0], content_type="application/json")


@routes.post("/login/second-factor/key")
@public
async def use_key(request: web.Request) -> web.Response:
    answer = await _answer(request, await pending_user(request))
    if isinstance(answer, web.Response):
        return answer
    (user, pending), data, challenge = answer
    async with request.app[keys.SESSIONS]() as db:
        passed = await authenticate(db, _rp(request), user.id, challenge=challenge,
                                    credential=data["credential"])
    if not passed:
        return _refused("key_refused", 401)
    redirect = await finish_pending(request, user, pending, "webauthn")
    return web.json_response({"next": str(redirect.location)})
