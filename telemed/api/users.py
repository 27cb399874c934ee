"""/api/v1/users: administrators create and list users; everyone reads /users/me."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from telemed.api.common import Body, body, listing, ok, sessions
from telemed.api.shapes import user_out
from telemed.principal import ROLES, principal, requires
from telemed.services import audit
from telemed.services.pagination import encode_cursor, parse_page
from telemed.services.users import create_user, get_user, list_users, update_me

routes = web.RouteTableDef()


class UserCreate(Body):
    username: str
    password: str
    role: str
    display_name: str
    patient_id: str | None = None
    email: str | None = None
    notify: dict[str, Any] | None = None


class UserUpdate(Body):
    """What users change about themselves (PATCH /users/me)."""

    email: str | None = None
    notify: dict[str, Any] | None = None
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
        user = await create_user(session, **data.model_dump())
        audit.record(session, actor=who, action="create", resource="user",
                     resource_id=user.id, patient_id=user.patient_id)
        await session.commit()
    return ok(user_out(user), status=201)


@routes.get("/api/v1/users/me")
@requires(*ROLES)
async def users_me(request: web.Request) -> web.Response:
    who = principal(request)
    async with sessions(request)() as session:
        user = await get_user(session, who.user_id)
    return ok(user_out(user))


@routes.patch("/api/v1/users/me")
@requires(*ROLES)
async def users_me_update(request: web.Request) -> web.Response:
    data = await body(request, UserUpdate)
    who = principal(request)
    async with sessions(request)() as session:
        user = await update_me(session, who.user_id, changes=data.model_dump(exclude_unset=True))
    return ok(user_out(user))


@routes.get("/api/v1/users/{user_id}")
@requires("admin")
async def users_get(request: web.Request) -> web.Response:
    async with sessions(request)() as session:
        user = await get_user(session, request.match_info["user_id"])
    return ok(user_out(user))
