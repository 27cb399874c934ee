"""One user, as an administrator manages their sign-in: the fiscal code single sign-on
matches them by, and the reset of a lost second factor (a confirmation page that says what
happens, with the required reason). The same services as the API (services.user_admin).

The page shows the account, never clinical data: a patient's account says that it is
linked to a record, not whose.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed import keys
from telemed.db.models import User
from telemed.errors import N_, ApiError
from telemed.identity.totp import has_second_factor
from telemed.principal import Principal, principal, requires
from telemed.services.user_admin import reset_factor_of, set_fiscal_code
from telemed.services.users import get_user
from telemed.views.forms import FormErrors, form_context, read_form, refusal_errors, simple_field
from telemed.views.render import flash, language_of, render, see_other

routes = web.RouteTableDef()


@dataclass(frozen=True)
class _Page:
    """One of the pages: its template, its fields, where its conflicts are said, what a
    change does (a use case of services.user_admin) and the notice after it."""

    template: str
    fields: dict[str, str]
    conflicts: dict[str, str | None]
    change: Callable[[AsyncSession, Principal, str, str], Awaitable[User]]
    done: str
    initial: Callable[[User], dict[str, str]] = lambda _user: {}  # the form as first shown


DETAIL = _Page(
    "user_detail.html", {"fiscal_code": N_("Fiscal code")},
    # a patient's account has no fiscal-code field (its record's code is used): said on top
    {"user_fiscal_code_taken": "fiscal_code", "fiscal_code_on_patient_record": None},
    set_fiscal_code,
    N_("The fiscal code of {username} was saved. Single sign-on (SPID / CIE) now matches "
       "this account by it only; sessions opened with a previous code were ended."),
    lambda user: {"fiscal_code": user.fiscal_code or ""})
RESET = _Page(
    "user_factor_reset.html", {"reason": N_("Reason")}, {"cannot_reset_self": None},
    reset_factor_of,
    N_("The second factor of {username} was reset. They were told, and they will set up a "
       "new one at their next login."))


async def _show(request: web.Request, page: _Page, form: dict[str, str] | None = None,
                errors: FormErrors | None = None, status: int = 200) -> web.Response:
    """The page of the path's user (404 page when none) with the form as given."""
    await language_of(request)
    async with request.app[keys.SESSIONS]() as db:
        user = await get_user(db, request.match_info["user_id"])
        enrolled = await has_second_factor(db, user)
    return await render(request, page.template, {
        **form_context(request, page.initial(user) if form is None else form,
                       errors or FormErrors(), page.fields), "account": user,
        "enrolled": enrolled, "is_me": user.id == principal(request).user_id,
    }, status=status)


async def _submit(request: web.Request, page: _Page) -> web.Response:
    """Apply the page's change: back to the user's page with a notice, or the page again
    with the refusal next to its field."""
    await language_of(request)
    form = await read_form(request)
    field = next(iter(page.fields))
    try:
        async with request.app[keys.SESSIONS]() as db:
            user = await page.change(db, principal(request), request.match_info["user_id"],
                                     form.get(field, ""))
    except ApiError as exc:
        errors = refusal_errors(request, exc, simple_field(page.fields), page.conflicts)
        return await _show(request, page, form, errors, exc.status)
    await flash(request, page.done, username=user.username)
    raise see_other(f"/users/{user.id}")


def _serve(page: _Page, path: str, action: str, name: str) -> None:
    """The page at `path` (administrators only) and its form's POST at `action`."""

    @routes.get(path, name=name)
    @requires("admin")
    async def show(request: web.Request) -> web.Response:
        return await _show(request, page)

    @routes.post(action)
    @requires("admin")
    async def submit(request: web.Request) -> web.Response:
        return await _submit(request, page)


# the account, with the fiscal code to set or correct (empty: removed)
_serve(DETAIL, "/users/{user_id}", "/users/{user_id}/fiscal-code", "user_detail")
# the confirmation step of a reset: what happens, and the reason to give
_serve(RESET, "/users/{user_id}/second-factor/reset", "/users/{user_id}/second-factor/reset",
       "user_factor_reset")
