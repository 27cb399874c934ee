"""/activate: the owner of a new portal account sets their first password with the one-time
link the administrator handed over (telemed.identity.activation)."""

from __future__ import annotations

from aiohttp import web

from telemed import keys
from telemed.errors import ApiError
from telemed.identity.activation import activate, activation_user
from telemed.principal import public
from telemed.views.forms import N_, read_form
from telemed.views.render import flash, language_of, render, see_other, t, t_error

routes = web.RouteTableDef()


async def _page(request: web.Request, token: str, *, error: str | None = None,
                status: int = 200) -> web.Response:
    return await render(request, "activate.html", {"token": token, "error": error},
                        status=status)


async def _refused(request: web.Request, exc: ApiError) -> web.Response:
    return await render(request, "sso_refused.html",
                        {"message": t_error(request, exc.message), "code": exc.code},
                        status=exc.status)


@routes.get("/activate", name="activate")
@public
async def activate_form(request: web.Request) -> web.Response:
    await language_of(request)
    token = request.query.get("token", "")[:1024]
    try:
        async with request.app[keys.SESSIONS]() as db:
            await activation_user(db, request.app[keys.SETTINGS].secret_key, token)
    except ApiError as exc:
        return await _refused(request, exc)
    return await _page(request, token)


@routes.post("/activate")
@public
async def activate_submit(request: web.Request) -> web.Response:
    await language_of(request)
    form = await read_form(request)
    token = form.get("token", "")[:1024]
    password = form.get("password", "")
    if password != form.get("confirm_password", ""):
        return await _page(request, token, error=t(request, N_("The two passwords differ.")),
                           status=422)
    try:
        async with request.app[keys.SESSIONS]() as db:
            await activate(db, request.app[keys.SETTINGS].secret_key, token, password)
    except ApiError as exc:
        if exc.status != 422:
            return await _refused(request, exc)
        message = (exc.fields or {}).get("password", exc.message)
        return await _page(request, token, error=t_error(request, message), status=422)
    await flash(request, N_("Your password is set. Log in with it."))
    raise see_other("/login")
