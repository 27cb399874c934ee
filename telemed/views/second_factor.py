"""The second factor: asked after the password or single sign-on when required, enrolled
on first need (or from the account page), with recovery codes shown once.

Code attempts are limited like passwords (per address and per account, with backoff); a
code is accepted once.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp_session import get_session

from telemed import keys
from telemed.db.models import User
from telemed.identity.security_keys import keys_of
from telemed.identity.totp import (
    check_second_factor,
    enrol,
    has_second_factor,
    new_enrolment,
    recovery_codes_left,
)
from telemed.principal import ROLES, client_of, principal, public, requires
from telemed.services.users import find_user
from telemed.views.forms import N_, read_form
from telemed.views.render import flash, language_of, render, see_other, t
from telemed.views.signin import finish_pending, pending_user

routes = web.RouteTableDef()

ENROL_SECRET = "totp_enrolment"


def _throttle_key(user: User) -> str:
    return f"second-factor:{user.username}"


async def _pending(request: web.Request) -> tuple[User, dict[str, Any]]:
    """The pending login of this browser; without one (no first factor passed, or it
    expired) back to the login page."""
    await language_of(request)
    found = await pending_user(request)
    if found is None:
        raise see_other("/login")
    return found


async def _enrolling(request: web.Request) -> tuple[User, dict[str, Any]]:
    """The pending login of a user without a second factor (a user with one never enrols
    another at login: they prove the one they have)."""
    user, pending = await _pending(request)
    async with request.app[keys.SESSIONS]() as db:
        if await has_second_factor(db, user):
            raise see_other("/login/second-factor")
    return user, pending


async def _code_page(request: web.Request, user: User, *, error: str | None = None,
                     status: int = 200) -> web.Response:
    async with request.app[keys.SESSIONS]() as db:
        has_keys = bool(await keys_of(db, user.id))
    return await render(request, "second_factor.html", {"error": error, "has_keys": has_keys},
                        status=status)


@routes.get("/login/second-factor", name="second_factor")
@public
async def second_factor_form(request: web.Request) -> web.Response:
    user, _ = await _pending(request)
    return await _code_page(request, user)


@routes.post("/login/second-factor")
@public
async def second_factor_submit(request: web.Request) -> web.Response:
    user, pending = await _pending(request)
    form = await read_form(request)
    guard = request.app[keys.LOGIN_THROTTLE]
    address = client_of(request)
    wait = guard.reserve(address, _throttle_key(user))
    if wait > 0:
        page = await _code_page(request, user, error=t(request, N_("Too many attempts. Try again "
                                                            "in a minute.")), status=429)
        page.headers["Retry-After"] = str(int(wait) + 1)
        return page
    async with request.app[keys.SESSIONS]() as db:
        passed = await check_second_factor(db, user.id, form.get("code", "")[:32])
    if not passed:
        return await _code_page(request, user, error=t(request, N_(
            "The code is wrong, expired or already used. Enter the code your app shows now, "
            "or one of your recovery codes.")), status=401)
    guard.succeeded(address, _throttle_key(user))
    raise await finish_pending(request, user, pending, "totp")


async def _enrol_page(request: web.Request, user: User, *, action: str,
                      error: str | None = None, status: int = 200) -> web.Response:
    session = await get_session(request)
    kept = session.get(ENROL_SECRET)  # a reload or a mistyped code keeps the scanned secret
    offer = new_enrolment(user.username, kept if isinstance(kept, str) else None)
    session[ENROL_SECRET] = offer.secret  # the encrypted cookie keeps it until confirmed
    keys_url = ("/login/second-factor/enrol/key" if action.startswith("/login/")
                else "/account/security-keys")
    return await render(request, "second_factor_enrol.html", {
        "qr": offer.qr, "secret": offer.secret, "action": action, "error": error,
        "keys_url": keys_url,
    }, status=status)


async def _enrol(request: web.Request, user: User) -> list[str] | None:
    session = await get_session(request)
    secret = session.get(ENROL_SECRET)
    form = await read_form(request)
    if not isinstance(secret, str):
        return None
    async with request.app[keys.SESSIONS]() as db:
        fresh = await find_user(db, user.id)
        if fresh is None:
            return None
        codes = await enrol(db, fresh, secret, form.get("code", "")[:32])
    if codes is not None:
        session.pop(ENROL_SECRET, None)
    return codes


_WRONG_ENROL = N_("That code does not match. Scan the QR code and enter the code your "
                  "app shows.")


@routes.get("/login/second-factor/enrol", name="second_factor_enrol")
@public
async def enrol_at_login_form(request: web.Request) -> web.Response:
    user, _ = await _enrolling(request)
    return await _enrol_page(request, user, action="/login/second-factor/enrol")


@routes.post("/login/second-factor/enrol")
@public
async def enrol_at_login_submit(request: web.Request) -> web.Response:
    user, pending = await _enrolling(request)
    codes = await _enrol(request, user)
    if codes is None:
        return await _enrol_page(request, user, action="/login/second-factor/enrol",
                                 error=t(request, _WRONG_ENROL), status=422)
    redirect = await finish_pending(request, user, pending, "totp")
    return await _codes_page(request, codes, redirect.location)


async def _codes_page(request: web.Request, codes: list[str], next_path: Any) -> web.Response:
    return await render(request, "recovery_codes.html",
                        {"codes": codes, "next": str(next_path)})


async def _signed_in(request: web.Request) -> tuple[User, int | None]:
    """The signed-in user, and their recovery codes left (None without a second factor)."""
    await language_of(request)
    async with request.app[keys.SESSIONS]() as db:
        user = await find_user(db, principal(request).user_id)
        if user is None:
            raise web.HTTPUnauthorized()
        if not await has_second_factor(db, user):
            return user, None
        return user, await recovery_codes_left(db, user.id)


@routes.get("/account/second-factor", name="account_second_factor")
@requires(*ROLES)
async def account_factor_form(request: web.Request) -> web.Response:
    user, left = await _signed_in(request)
    if left is not None:
        return await render(request, "second_factor_status.html", {"left": left})
    return await _enrol_page(request, user, action="/account/second-factor")


@routes.post("/account/second-factor")
@requires(*ROLES)
async def account_factor_submit(request: web.Request) -> web.Response:
    user, left = await _signed_in(request)
    if left is not None:
        raise web.HTTPConflict(text="A second factor is already set up.")
    codes = await _enrol(request, user)
    if codes is None:
        return await _enrol_page(request, user, action="/account/second-factor",
                                 error=t(request, _WRONG_ENROL), status=422)
    await flash(request, N_("Your second factor is set up."))
    return await _codes_page(request, codes, "/")

