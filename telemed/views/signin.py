"""The last step of every login (password or single sign-on): the second factor when it is
required, then the server-side session the cookie names.

Between the first factor and the second, the browser's (encrypted) cookie holds a pending
login that names the user and expires in five minutes; it opens nothing by itself.
"""

from __future__ import annotations

import time
from typing import Any, NoReturn

from aiohttp import web
from aiohttp_session import get_session

from telemed import keys
from telemed.db.models import User
from telemed.domain.identity import second_factor_step
from telemed.i18n import LANGUAGES
from telemed.identity.accounts import accounts_for_fiscal_code
from telemed.identity.totp import has_second_factor
from telemed.principal import client_of
from telemed.security import new_csrf_token
from telemed.services.sessions import open_session
from telemed.services.users import find_user
from telemed.views.home import home_of
from telemed.views.render import see_other

PENDING = "pending_login"
PENDING_SECONDS = 300


async def reset_cookie(request: web.Request) -> Any:
    """Empty the browser's session (keeping its language) with a fresh CSRF token."""
    session = await get_session(request)
    lang = session.get("lang")
    session.clear()
    if lang in LANGUAGES:
        session["lang"] = lang
    session["csrf"] = new_csrf_token()
    return session


async def complete_login(request: web.Request, user: User, *, method: str, next_path: str,
                         acr: str | None = None, id_token: str | None = None,
                         fiscal_code: str | None = None) -> NoReturn:
    """After the first factor: ask for the second when required, else open the session.
    `fiscal_code`: the one single sign-on matched the user by, checked again before the
    pending login opens (an administrator may correct it in between)."""
    settings = request.app[keys.SETTINGS]
    async with request.app[keys.SESSIONS]() as db:
        enrolled = await has_second_factor(db, user)
    step = second_factor_step(user.role, settings.require_2fa, enrolled=enrolled, acr=acr,
                              min_acr=settings.oidc_min_acr)
    if step != "none":
        session = await reset_cookie(request)
        session[PENDING] = {"uid": user.id, "method": method, "acr": acr, "id_token": id_token,
                            "next": next_path, "exp": int(time.time()) + PENDING_SECONDS,
                            "fc": fiscal_code}
        raise see_other("/login/second-factor" if step == "verify"
                        else "/login/second-factor/enrol")
    factor = "idp" if acr and settings.oidc_min_acr and method == "oidc" else None
    raise await open_login(request, user, method=method, next_path=next_path, acr=acr,
                           id_token=id_token, second_factor=factor)


async def open_login(request: web.Request, user: User, *, method: str, next_path: str,
                     acr: str | None = None, id_token: str | None = None,
                     second_factor: str | None = None) -> web.HTTPSeeOther:
    """Open the session row and point the cookie at it; the redirect to the next page."""
    async with request.app[keys.SESSIONS]() as db:
        row = await open_session(
            db, user, kind="cookie", ttl_seconds=request.app[keys.SETTINGS].session_max_age,
            method=method, second_factor=second_factor, acr=acr, id_token=id_token,
            user_agent=request.headers.get("User-Agent", "")[:255] or None,
            address=client_of(request)[:64])
        await db.commit()
    session = await reset_cookie(request)
    session["sid"] = row.id
    return see_other(next_path or home_of(user.role, user.patient_id))


async def pending_login(request: web.Request) -> dict[str, Any] | None:
    """The pending login of this browser (first factor passed), or None when absent/expired."""
    session = await get_session(request)
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or not isinstance(pending.get("uid"), str):
        return None
    if int(pending.get("exp", 0)) < time.time():
        session.pop(PENDING, None)
        return None
    return pending


async def pending_user(request: web.Request) -> tuple[User, dict[str, Any]] | None:
    """The active user of the pending login, with it."""
    pending = await pending_login(request)
    if pending is None:
        return None
    async with request.app[keys.SESSIONS]() as db:
        user = await find_user(db, pending["uid"])
        if user is None or not user.active:
            return None
        code = pending.get("fc")
        if isinstance(code, str) and user.id not in {
                c.user_id for c in await accounts_for_fiscal_code(db, code)}:
            return None  # the fiscal code it came with no longer opens this account
    return user, pending


async def finish_pending(request: web.Request, user: User, pending: dict[str, Any],
                         factor: str) -> web.HTTPSeeOther:
    """The second factor passed: open the session of the pending login."""
    return await open_login(request, user, method=str(pending.get("method", "password")),
                            next_path=str(pending.get("next") or ""),
                            acr=pending.get("acr"), id_token=pending.get("id_token"),
                            second_factor=factor)
