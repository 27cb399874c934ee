"""/api/v1/users: administrators create, list, deactivate and reactivate users; everyone
reads /users/me and changes their own password."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import AliasChoices, Field

from telemed import keys
from telemed.api.common import Body, body, call, listing, ok, sessions
from telemed.api.shapes import user_out
from telemed.db.models import User
from telemed.identity.activation import activation_url
from telemed.principal import ROLES, Principal, client_of, principal, requires
from telemed.services import audit, sign_in
from telemed.services.pagination import encode_cursor, parse_page
from telemed.services.user_admin import set_fiscal_code
from telemed.services.users import (
    create_user,
    get_user,
    list_users,
    set_active,
    update_me,
)

routes = web.RouteTableDef()


def activation_link(request: web.Request, user: User) -> str:
    """The one-time link with which the owner of a new portal account sets its password."""
    settings = request.app[keys.SETTINGS]
    return activation_url(settings.effective_public_url, settings.secret_key, user)


class UserCreate(Body):
    username: str
    # Staff only: a portal (patient) account's owner sets it with the activation link.
    password: str | None = None
    # The person's codice fiscale, for single sign-on (SPID / CIE) of staff and delegates.
    fiscal_code: str | None = Field(default=None, max_length=32)
    role: str
    display_name: str
    patient_id: str | None = None
    email: str | None = None
    phone: str | None = Field(default=None, max_length=64)
    notify: dict[str, Any] | None = None
    # The daily digest's choices, as PATCH /users/me takes them (docs/notifications.md).
    notify_delivery: dict[str, Any] | None = None
    digest_time: str | None = Field(default=None, max_length=16)


class UserUpdate(Body):
    """What users change about themselves (PATCH /users/me)."""

    email: str | None = None
    phone: str | None = Field(default=None, max_length=64)
    notify: dict[str, Any] | None = None
    # Per kind "immediate" or "digest", and the digest's local time "HH:MM" (null: 07:30).
    notify_delivery: dict[str, Any] | None = None
    digest_time: str | None = Field(default=None, max_length=16)
    language: str | None = None


@routes.get("/api/v1/users")
@requires("admin")
async def users_list(request: web.Request) -> web.Response:
    page = parse_page(request.query, key_length=2)
    async with sessions(request)() as session:
        users = await list_users(session, page, request.query.get("role"))
    cursor = encode_cursor([users[-1].username, users[-1].id]) if len(users) == page.limit else None
    return listing([user_out(u) for u in users], cursor)


@routes.post("/api/v1/users")
@requires("admin")
async def users_create(request: web.Request) -> web.Response:
    data = await body(request, UserCreate)
    who = principal(request)
    async with sessions(request)() as session:
        user = await create_user(session, **data.model_dump(), by_admin=True)
        audit.record(session, actor=who, action="create", resource="user",
                     resource_id=user.id, patient_id=user.patient_id)
        await session.commit()
    out = user_out(user)
    if data.password is None:  # shown once, to hand over (docs/identity.md)
        out["activation_url"] = activation_link(request, user)
    return ok(out, status=201)


@routes.get("/api/v1/users/me")
@requires(*ROLES)
async def users_me(request: web.Request) -> web.Response:
    who = principal(request)
    async with sessions(request)() as session:
        user = await get_user(session, who.user_id)
    return ok(user_out(user))


class PasswordChange(Body):
    # docs/api.md: also spelled {current, new}; both spellings are accepted.
    current_password: str = Field(validation_alias=AliasChoices("current_password", "current"),
                                  max_length=1024)
    new_password: str = Field(validation_alias=AliasChoices("new_password", "new"),
                              max_length=1024)


async def apply_password_change(request: web.Request, who: Principal, current: str,
                                new: str) -> None:
    """`services.sign_in.change_own_password` with this request's guard and address."""
    await sign_in.change_own_password(sessions(request), request.app[keys.LOGIN_THROTTLE],
                                      client_of(request), who, current, new)


@routes.post("/api/v1/users/me/password")
@requires(*ROLES)
async def users_me_password(request: web.Request) -> web.Response:
    data = await body(request, PasswordChange)
    await apply_password_change(request, principal(request), data.current_password,
                                data.new_password)
    return ok({"status": "ok"})


class UserActivation(Body):
    """What an administrator changes about another user (PATCH /users/{id})."""

    active: bool


@routes.patch("/api/v1/users/{user_id}")
@requires("admin")
async def users_update(request: web.Request) -> web.Response:
    """Deactivate (`{"active": false}`: every session, token and live channel of the user
    ends) or reactivate a user."""
    data = await body(request, UserActivation)
    who = principal(request)
    async with sessions(request)() as session:
        user = await set_active(session, who, request.match_info["user_id"], data.active)
    return ok(user_out(user))


class FiscalCode(Body):
    """A staff or family-member account's fiscal code (PUT /users/{id}/fiscal-code); null
    or "" removes it."""

    fiscal_code: str | None = Field(max_length=32)


@routes.put("/api/v1/users/{user_id}/fiscal-code")
@requires("admin")
async def users_fiscal_code(request: web.Request) -> web.Response:
    """Set or correct the fiscal code single sign-on matches the user by: 422 when the
    fiscal-code rules refuse it, 409 `user_fiscal_code_taken` when another user has it,
    409 `fiscal_code_on_patient_record` for a patient's own account (docs/identity.md)."""
    data = await body(request, FiscalCode)
    user = await call(request, set_fiscal_code, request.match_info["user_id"], data.fiscal_code)
    return ok(user_out(user))


@routes.patch("/api/v1/users/me")
@requires(*ROLES)
async def users_me_update(request: web.Request) -> web.Response:
    data = await body(request, UserUpdate)
    who = principal(request)
    async with sessions(request)() as session:
        user = await update_me(session, who.user_id, changes=data.model_dump(exclude_unset=True),
                               timezone=request.app[keys.SETTINGS].timezone)
    return ok(user_out(user))


@routes.get("/api/v1/users/{user_id}")
@requires("admin")
async def users_get(request: web.Request) -> web.Response:
    async with sessions(request)() as session:
        user = await get_user(session, request.match_info["user_id"])
    return ok(user_out(user))
