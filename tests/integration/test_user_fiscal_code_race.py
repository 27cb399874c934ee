"""A staff or delegate fiscal code belongs to one account, enforced by the database: two
requests that give the same new code at the same moment both pass the services' check, and
the unique index refuses the second one, which answers the same 409 as the check (not a
500). SQLite and PostgreSQL; creating a user and correcting a code alike. The username's
unique index is held to the same: the second of two accounts made at once with one username
answers 409 `username_taken`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from typing import Any

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient
from sqlalchemy import event, func, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import col, select

from telemed import keys
from telemed.db.models import User
from telemed.domain.fiscal_code import build_fiscal_code
from tests.conftest import PASSWORD, World

Client = TestClient[Any, Any]
CODE = build_fiscal_code("Marta", "Galli", date(1981, 6, 3), "F", "Bologna")
# What keeps the users table from being written, not from being read, until released.
HOLD_WRITES = {"sqlite": "UPDATE users SET active = active",
               "postgresql": "LOCK TABLE users IN SHARE MODE"}


@pytest.fixture
def app(either_app: web.Application) -> web.Application:
    return either_app


@contextlib.asynccontextmanager
async def writes_held(app: web.Application, statement: str, expected: int,
                      marker: str = CODE) -> AsyncIterator[asyncio.Event]:
    """Hold every write to the users table (reads go on) until the block ends. The event
    is set once the app has sent `expected` statements that start with `statement` and
    carry `marker`: each request then passed every check the services make before writing."""
    reached = asyncio.Event()
    seen: list[str] = []

    def watch(_conn: Any, _cursor: Any, sql: str, params: Any, *_: Any) -> None:
        if sql.startswith(statement) and marker in str(params):
            seen.append(sql)
            if len(seen) == expected:
                reached.set()

    target = app[keys.ENGINE].sync_engine
    gate = create_async_engine(app[keys.SETTINGS].effective_database_url)
    event.listen(target, "before_cursor_execute", watch)
    try:
        async with gate.connect() as conn:
            await conn.execute(text(HOLD_WRITES[conn.dialect.name]))
            yield reached
            await conn.rollback()
    finally:
        event.remove(target, "before_cursor_execute", watch)
        await gate.dispose()


async def race(app: web.Application, statement: str,
               requests: list[Callable[[], Awaitable[ClientResponse]]], marker: str = CODE,
               ) -> list[tuple[int, dict[str, Any]]]:
    """Send `requests` together; let them write only once each has reached its write."""

    async def one(send: Callable[[], Awaitable[ClientResponse]]) -> tuple[int, dict[str, Any]]:
        resp = await send()
        return resp.status, await resp.json()

    async with writes_held(app, statement, len(requests), marker) as reached:
        running = [asyncio.create_task(one(send)) for send in requests]
        try:
            await asyncio.wait_for(reached.wait(), 20)
        except TimeoutError:
            for task in running:
                task.cancel()
            raise
    return list(await asyncio.gather(*running))


async def holders(app: web.Application) -> int:
    async with app[keys.SESSIONS]() as session:
        return int((await session.exec(select(func.count()).select_from(User)
                                       .where(col(User.fiscal_code) == CODE))).one())


def one_won(results: list[tuple[int, dict[str, Any]]], success: int) -> None:
    assert sorted(status for status, _ in results) == [success, 409], results
    [refused] = [body for status, body in results if status == 409]
    assert refused["error"]["code"] == "user_fiscal_code_taken"
    assert CODE not in str(refused)


async def test_two_new_accounts_with_one_code_at_once_one_is_created(
        client: Client, world: World, app: web.Application) -> None:
    admin = await world.token((await world.user("admin"))["username"])

    def create(username: str) -> Callable[[], Awaitable[ClientResponse]]:
        return lambda: client.post("/api/v1/users", headers=admin, json={
            "username": username, "password": PASSWORD, "role": "nurse",
            "display_name": "Marta Galli", "fiscal_code": CODE})

    results = await race(app, "INSERT INTO users ", [create("galli.m"), create("galli.marta")])
    one_won(results, 201)
    assert await holders(app) == 1
    async with app[keys.SESSIONS]() as session:  # the refused account was not made either
        made = (await session.exec(select(User.username)
                                   .where(col(User.username).like("galli.%")))).all()
    assert len(made) == 1


async def test_one_code_given_to_two_accounts_at_once_goes_to_one(
        client: Client, world: World, app: web.Application) -> None:
    admin = await world.token((await world.user("admin"))["username"])
    nurses = [(await world.user("nurse"))["id"] for _ in range(2)]

    def give(user_id: str) -> Callable[[], Awaitable[ClientResponse]]:
        return lambda: client.put(f"/api/v1/users/{user_id}/fiscal-code", headers=admin,
                                  json={"fiscal_code": CODE})

    results = await race(app, "UPDATE users SET ", [give(n) for n in nurses])
    one_won(results, 200)
    assert await holders(app) == 1
    [winner] = [body for status, body in results if status == 200]
    async with app[keys.SESSIONS]() as session:
        codes = {u.id: u.fiscal_code for u in (await session.exec(
            select(User).where(col(User.id).in_(nurses)))).all()}
    assert codes == {winner["id"]: CODE, ({*nurses} - {winner["id"]}).pop(): None}


async def test_two_new_accounts_with_one_username_at_once_one_is_created(
        client: Client, world: World, app: web.Application) -> None:
    """The same race on the username (no fiscal code): 201 and 409 `username_taken`."""
    admin = await world.token((await world.user("admin"))["username"])

    def create(name: str) -> Callable[[], Awaitable[ClientResponse]]:
        return lambda: client.post("/api/v1/users", headers=admin, json={
            "username": "rossi.l", "password": PASSWORD, "role": "nurse", "display_name": name})

    results = await race(app, "INSERT INTO users ", [create("Lia Rossi"), create("Leo Rossi")],
                         marker="rossi.l")
    assert sorted(status for status, _ in results) == [201, 409], results
    [refused] = [body for status, body in results if status == 409]
    assert refused["error"]["code"] == "username_taken"
    async with app[keys.SESSIONS]() as session:
        made = (await session.exec(select(User.username)
                                   .where(col(User.username) == "rossi.l"))).all()
    assert len(made) == 1
