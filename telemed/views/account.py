"""The signed-in person's account: changing the password (linked from the page header).

A change ends every other session and token of the person (and the alert streams and visit
sockets they opened); this browser stays signed in.
"""

from __future__ import annotations

from aiohttp import web

from telemed import keys
from telemed.errors import ApiError
from telemed.principal import ROLES, client_of, principal, requires
from telemed.services import sign_in
from telemed.views.auth import refusal_message
from telemed.views.forms import (
    N_,
    Form,
    FormErrors,
    api_errors,
    form_context,
    read_form,
    simple_field,
)
from telemed.views.render import flash, language_of, render, see_other, t

routes = web.RouteTableDef()

FIELDS: dict[str, str] = {
    "current_password": N_("Current password"),
    "new_password": N_("New password"),
    "confirm_password": N_("Repeat the new password"),
}
_field_of = simple_field(FIELDS)


async def _page(request: web.Request, errors: FormErrors, status: int = 200) -> web.Response:
    form: Form = {}  # passwords are never sent back to the browser
    return await render(request, "account_password.html",
                        form_context(request, form, errors, FIELDS, ordered=True), status=status)


@routes.get("/account/password", name="account_password")
@requires(*ROLES)
async def password_form(request: web.Request) -> web.Response:
    await language_of(request)
    return await _page(request, FormErrors())


@routes.post("/account/password")
@requires(*ROLES)
async def password_submit(request: web.Request) -> web.Response:
    await language_of(request)
    form = await read_form(request)
    new = form.get("new_password", "")
    if new != form.get("confirm_password", ""):
        errors = FormErrors()
        errors.add("confirm_password", t(request, "The two new passwords differ."))
        return await _page(request, errors, status=422)
    try:
        await sign_in.change_own_password(
            request.app[keys.SESSIONS], request.app[keys.LOGIN_THROTTLE], client_of(request),
            principal(request), form.get("current_password", ""), new)
    except ApiError as exc:
        if exc.status == 422:
            return await _page(request, api_errors(request, exc, _field_of), status=422)
        if exc.status == 429:
            errors = FormErrors()
            errors.add(None, refusal_message(request, exc))
            response = await _page(request, errors, status=429)
            response.headers["Retry-After"] = exc.headers.get("Retry-After", "60")
            return response
        raise
    await flash(request, N_("Your password was changed. Your other sessions were ended."))
    raise see_other("/")
