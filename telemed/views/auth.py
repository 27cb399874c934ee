"""Login, logout and the language switch.

A login opens a server-side session (telemed.services.sessions) whose id is all the cookie
holds; logging out revokes it, so a copy of the cookie is worthless afterwards, and every
live channel it opened (alert stream, visit socket) ends.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp_session import get_session

from telemed import keys
from telemed.errors import ApiError
from telemed.i18n import LANGUAGES
from telemed.identity.oidc import oidc_client
from telemed.principal import PRINCIPAL, client_of, public
from telemed.services import sign_in
from telemed.services.sessions import revoke_session
from telemed.views.forms import read_form
from telemed.views.render import current_user, language_of, local_or, render, see_other, t, tn
from telemed.views.signin import complete_login, reset_cookie
from telemed.views.sso import provider_logout_url

routes = web.RouteTableDef()


def _retry_after(exc: ApiError) -> int:
    try:
        return max(1, int(exc.headers.get("Retry-After", "60")))
    except ValueError:
        return 60


def refusal_message(request: web.Request, exc: ApiError) -> str:
    """What a refused login says, in the user's language."""
    if exc.status == 429:
        seconds = _retry_after(exc)
        if seconds >= 60:
            minutes = (seconds + 59) // 60
            return tn(request, "Too many attempts. Try again in {n} minute.",
                      "Too many attempts. Try again in {n} minutes.", minutes)
        return tn(request, "Too many attempts. Try again in {n} second.",
                  "Too many attempts. Try again in {n} seconds.", seconds)
    return t(request, "Wrong username or password.")


async def _login_page(request: web.Request, *, username: str = "", next_path: str = "",
                      error: str | None = None, status: int = 200) -> web.Response:
    return await render(request, "login.html",
                        {"username": username, "next": next_path, "error": error,
                         "sso": oidc_client(request.app) is not None},
                        status=status)


@routes.get("/login", name="login")
@public
async def login_form(request: web.Request) -> web.Response:
    next_path = local_or(request.query.get("next"), "")
    if current_user(request) is not None:
        raise web.HTTPFound(next_path or "/")
    return await _login_page(request, next_path=next_path)


@routes.post("/login")
@public
async def login_submit(request: web.Request) -> web.Response:
    await language_of(request)
    form = await read_form(request)
    username = form.get("username", "").strip()[:64]
    next_path = local_or(form.get("next"), "")
    try:
        user = await sign_in.login(request.app[keys.SESSIONS], request.app[keys.LOGIN_THROTTLE],
                                   client_of(request), username, form.get("password", ""))
    except ApiError as exc:
        if exc.status not in (401, 429):
            raise
        page = await _login_page(request, username=username, next_path=next_path,
                                 error=refusal_message(request, exc), status=exc.status)
        if "Retry-After" in exc.headers:
            page.headers["Retry-After"] = exc.headers["Retry-After"]
        return page
    await complete_login(request, user, method="password", next_path=next_path)


@routes.post("/logout", name="logout")
@public
async def logout(request: web.Request) -> web.Response:
    who = request.get(PRINCIPAL)
    target = "/login"
    if who is not None and who.via == "session" and who.session_id is not None:
        async with request.app[keys.SESSIONS]() as db:
            target = await provider_logout_url(request, db, who.session_id) or target
            await revoke_session(db, who.session_id, "logout")
    await reset_cookie(request)
    if target != "/login":  # the provider's logout: a navigation of its own (CSP form-action)
        return await render(request, "sso_logout.html", {"provider_logout": target})
    raise see_other(target)


@routes.post("/language", name="language")
@public
async def switch_language(request: web.Request) -> web.Response:
    form = await read_form(request)
    lang = form.get("lang", "")
    if lang in LANGUAGES:
        (await get_session(request))["lang"] = lang
    raise see_other(local_or(form.get("next"), "/"))
