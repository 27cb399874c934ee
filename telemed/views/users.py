"""User administration (admin only): the list and the new-user form.

A patient user is linked to its record by the patient's fiscal code (typed, or filled in from
the patient's page), so opening the form never lists, and never logs reads of, every patient.
"""

from __future__ import annotations

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession
from yarl import URL

from telemed import keys
from telemed.errors import ApiError, invalid
from telemed.identity.activation import activation_url
from telemed.principal import ROLES, Principal, principal, requires
from telemed.services import audit
from telemed.services import patients as patient_service
from telemed.services.pagination import Page, encode_cursor, parse_page
from telemed.services.users import check_new_user, create_user, list_users, set_active
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

PAGE_SIZE = 100
FIELDS: dict[str, str] = {  # in the order of the form
    "display_name": N_("Full name"),
    "username": N_("Username"),
    "role": N_("Role"),
    "password": N_("Password"),
    "email": N_("Email address"),
    "phone": N_("Phone number"),
    "patient_fiscal_code": N_("Patient's fiscal code"),
}
_NO_PATIENT = N_("No patient has this fiscal code.")
_CONFLICT_FIELDS = {"username_taken": "username", "patient_has_user": "patient_fiscal_code"}
_field_of_form = simple_field(FIELDS)


def _field_of(path: str) -> str | None:
    return "patient_fiscal_code" if path == "patient_id" else _field_of_form(path)


@routes.get("/users", name="users")
@requires("admin")
async def users_list(request: web.Request) -> web.Response:
    await language_of(request)
    page = parse_page({"limit": str(PAGE_SIZE), "cursor": request.query.get("cursor", "")},
                      key_length=2)
    async with request.app[keys.SESSIONS]() as session:
        users = await list_users(session, page)
    next_url = None
    if len(users) == page.limit:
        cursor = encode_cursor([users[-1].username, users[-1].id])
        next_url = str(URL("/users").with_query(cursor=cursor))
    return await render(request, "users.html", {"users": users, "next_url": next_url})


async def _new_user_page(request: web.Request, form: Form, errors: FormErrors,
                         status: int = 200) -> web.Response:
    return await render(request, "user_new.html", {
        **form_context(request, form, errors, FIELDS, ordered=True), "roles": ROLES,
    }, status=status)


@routes.get("/users/new", name="user_new")
@requires("admin")
async def user_new_form(request: web.Request) -> web.Response:
    await language_of(request)
    code = request.query.get("fiscal_code", "").strip().upper()[:20]
    form = {"role": "patient", "patient_fiscal_code": code} if code else {"role": "doctor"}
    return await _new_user_page(request, form, FormErrors())


async def _patient_id(session: AsyncSession, who: Principal, form: Form) -> str | None:
    """The id of the patient with the form's fiscal code; when there is none, 422 with this
    and every other problem of the form (nothing is created)."""
    code = "".join(form.get("patient_fiscal_code", "").split()).upper()
    if not code:
        return None  # the service says a patient user needs a record
    found = await patient_service.list_patients(session, who, Page(limit=2, after=None), code)
    match = next((p for p in found if p.fiscal_code == code), None)
    if match is None:
        problems = check_new_user(
            username=form.get("username", "").strip().lower(),
            password=form.get("password") or None,
            role=form.get("role", ""),
            display_name=form.get("display_name", ""),
            patient_id=code,
            by_admin=True,
        )
        raise invalid({**problems, "patient_id": _NO_PATIENT})
    return match.id


@routes.post("/users/new")
@requires("admin")
async def user_new_submit(request: web.Request) -> web.Response:
    await language_of(request)
    who = principal(request)
    form = await read_form(request)
    role = form.get("role", "")
    try:
        async with request.app[keys.SESSIONS]() as session:
            patient_id = None
            if role == "patient":
                patient_id = await _patient_id(session, who, form)
            user = await create_user(
                session,
                username=form.get("username", ""),
                password=form.get("password") or (None if role == "patient" else ""),
                role=role,
                display_name=form.get("display_name", ""),
                patient_id=patient_id,
                email=form.get("email") or None,
                phone=form.get("phone") or None,
                by_admin=True,
            )
            audit.record(session, actor=who, action="create", resource="user",
                         resource_id=user.id, patient_id=user.patient_id)
            await session.commit()
    except ApiError as exc:
        errors = refusal_errors(request, exc, _field_of, _CONFLICT_FIELDS)
        form.pop("password", None)  # never sent back to the browser
        return await _new_user_page(request, form, errors, status=exc.status)
    if role == "patient":  # the owner sets the password: the link is shown once, here
        await flash(request, N_("User {username} created. Give this activation link to the "
                                "person (it works once, for 7 days): {link}"),
                    username=user.username, link=activation_url(
                        request.app[keys.SETTINGS].effective_public_url,
                        request.app[keys.SETTINGS].secret_key, user))
    else:
        await flash(request, "User {username} created.", username=user.username)
    raise see_other("/users")


@routes.post("/users/{user_id}/active")
@requires("admin")
async def user_set_active(request: web.Request) -> web.Response:
    """Deactivate (every session, token and live channel of the user ends) or reactivate."""
    await language_of(request)
    who = principal(request)
    form = await read_form(request)
    active = form.get("active") == "true"
    async with request.app[keys.SESSIONS]() as session:
        user = await set_active(session, who, request.match_info["user_id"], active)
    await flash(request, N_("{username} can log in again.") if active
                else N_("{username} can no longer log in; their sessions were ended."),
                username=user.username)
    raise see_other("/users")
