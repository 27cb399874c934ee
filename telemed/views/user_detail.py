"""One user, as an administrator manages their sign-in: the fiscal code single sign-on
matches them by, and the reset of a lost second factor (a confirmation page that says what
happens, with the required reason). The same services as the API (services.user_admin).

The page shows the account, never clinical data: a patient's account says that it is
linked to a record, not whose.
"""

from __future__ import annotations

from aiohttp import web

from telemed import keys
from telemed.db.models import User
from telemed.errors import ApiError
from telemed.identity.totp import has_second_factor
from telemed.principal import principal, requires
from telemed.services.user_admin import reset_factor_of, set_fiscal_code
from telemed.services.users import get_user
from telemed.views.forms import (
    N_,
    Form,
    FormErrors,
    form_context,
    read_form,
    refusal_errors,
    simple_field,
)
from telemed.views.render import flash, language_of, render, see_other

routes = web.RouteTableDef()

FIELDS: dict[str, str] = {"fiscal_code": N_("Fiscal code")}
RESET_FIELDS: dict[str, str] = {"reason": N_("Reason")}
# A patient's account has no fiscal-code field (its record's code is used): said on top.
_FISCAL_CONFLICTS: dict[str, str | None] = {"user_fiscal_code_taken": "fiscal_code",
                                            "fiscal_code_on_patient_record": None}


async def _user(request: web.Request) -> tuple[User, bool]:
    """The user of the path (404 page when none) and whether they have a second factor."""
    await language_of(request)
    async with request.app[keys.SESSIONS]() as db:
        user = await get_user(db, request.match_info["user_id"])
        return user, await has_second_factor(db, user)


async def _detail_page(request: web.Request, user: User, enrolled: bool, form: Form,
                       errors: FormErrors, status: int = 200) -> web.Response:
    return await render(request, "user_detail.html", {
        **form_context(request, form, errors, FIELDS), "account": user, "enrolled": enrolled,
        "is_me": user.id == principal(request).user_id,
    }, status=status)


@routes.get("/users/{user_id}", name="user_detail")
@requires("admin")
async def user_detail(request: web.Request) -> web.Response:
    user, enrolled = await _user(request)
    return await _detail_page(request, user, enrolled, {"fiscal_code": user.fiscal_code or ""},
                              FormErrors())


@routes.post("/users/{user_id}/fiscal-code")
@requires("admin")
async def user_fiscal_code(request: web.Request) -> web.Response:
    """Set, correct or (empty) remove the fiscal code; errors next to the field."""
    user, enrolled = await _user(request)
    form = await read_form(request)
    try:
        async with request.app[keys.SESSIONS]() as db:
            await set_fiscal_code(db, principal(request), user.id, form.get("fiscal_code"))
    except ApiError as exc:
        errors = refusal_errors(request, exc, simple_field(FIELDS), _FISCAL_CONFLICTS)
        return await _detail_page(request, user, enrolled, form, errors, status=exc.status)
    await flash(request, N_("The fiscal code of {username} was saved. Single sign-on (SPID / "
                            "CIE) now matches this account by it only; sessions opened with "
                            "a previous code were ended."), username=user.username)
    raise see_other(f"/users/{user.id}")


async def _reset_page(request: web.Request, user: User, enrolled: bool, form: Form,
                      errors: FormErrors, status: int = 200) -> web.Response:
    return await render(request, "user_factor_reset.html", {
        **form_context(request, form, errors, RESET_FIELDS), "account": user,
        "enrolled": enrolled, "is_me": user.id == principal(request).user_id,
    }, status=status)


@routes.get("/users/{user_id}/second-factor/reset", name="user_factor_reset")
@requires("admin")
async def factor_reset_form(request: web.Request) -> web.Response:
    """The confirmation step: what a reset does, and the reason to give."""
    user, enrolled = await _user(request)
    return await _reset_page(request, user, enrolled, {}, FormErrors())


@routes.post("/users/{user_id}/second-factor/reset")
@requires("admin")
async def factor_reset_submit(request: web.Request) -> web.Response:
    user, enrolled = await _user(request)
    form = await read_form(request)
    try:
        async with request.app[keys.SESSIONS]() as db:
            await reset_factor_of(db, principal(request), user.id, form.get("reason", ""))
    except ApiError as exc:
        errors = refusal_errors(request, exc, simple_field(RESET_FIELDS),
                                {"cannot_reset_self": None})
        return await _reset_page(request, user, enrolled, form, errors, status=exc.status)
    await flash(request, N_("The second factor of {username} was reset. They were told, and "
                            "they will set up a new one at their next login."),
                username=user.username)
    raise see_other(f"/users/{user.id}")
