"""User administration (admin only): the list and the new-user form."""

from __future__ import annotations

from aiohttp import web
from yarl import URL

from telemed import keys
from telemed.errors import ApiError
from telemed.principal import ROLES, principal, requires
from telemed.services import audit
from telemed.services import patients as patient_service
from telemed.services.pagination import Page, encode_cursor, parse_page
from telemed.services.users import create_user, list_users
from telemed.views.forms import N_, Form, FormErrors, api_errors, read_form, simple_field
from telemed.views.render import flash, language_of, render, see_other, t

routes = web.RouteTableDef()

PAGE_SIZE = 100
PATIENT_CHOICES = 200
FIELDS: dict[str, str] = {
    "username": N_("Username"),
    "display_name": N_("Full name"),
    "role": N_("Role"),
    "password": N_("Password"),
    "patient_id": N_("Patient record"),
}
_CONFLICT_FIELDS = {"username_taken": "username", "patient_has_user": "patient_id"}


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
    async with request.app[keys.SESSIONS]() as session:
        patients = await patient_service.list_patients(
            session, principal(request), Page(limit=PATIENT_CHOICES, after=None))
    labels = {key: t(request, label) for key, label in FIELDS.items()}
    return await render(request, "user_new.html", {
        "form": form, "errors": errors, "labels": labels, "roles": ROLES,
        "patient_options": [(p.id, f"{p.family_name} {p.given_name} · {p.fiscal_code}")
                            for p in patients],
        "summary": errors.summary(lambda key: labels.get(key, key)),
    }, status=status)


@routes.get("/users/new", name="user_new")
@requires("admin")
async def user_new_form(request: web.Request) -> web.Response:
    await language_of(request)
    return await _new_user_page(request, {"role": "doctor"}, FormErrors())


@routes.post("/users/new")
@requires("admin")
async def user_new_submit(request: web.Request) -> web.Response:
    await language_of(request)
    form = await read_form(request)
    role = form.get("role", "")
    try:
        async with request.app[keys.SESSIONS]() as session:
            user = await create_user(
                session,
                username=form.get("username", ""),
                password=form.get("password", ""),
                role=role,
                display_name=form.get("display_name", ""),
                patient_id=(form.get("patient_id") or None) if role == "patient" else None,
            )
            audit.record(session, actor=principal(request), action="create", resource="user",
                         resource_id=user.id, patient_id=user.patient_id)
            await session.commit()
    except ApiError as exc:
        if exc.status == 409 and exc.code in _CONFLICT_FIELDS:
            errors = FormErrors()
            errors.add(_CONFLICT_FIELDS[exc.code], t(request, exc.message))
        elif exc.status == 422:
            errors = api_errors(request, exc, simple_field(FIELDS))
        else:
            raise
        form.pop("password", None)  # never sent back to the browser
        return await _new_user_page(request, form, errors, status=exc.status)
    await flash(request, "User {username} created.", username=user.username)
    raise see_other("/users")
