"""Migration 0025 (one account per staff/delegate fiscal code) on SQLite and PostgreSQL: a
database that already holds a duplicate is refused with a clear message naming no code,
and left as it was; without duplicates the index becomes unique (accounts without a code
stay as many as they are), and the downgrade makes it plain again."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from telemed.db.migrate import current_revision_head
from telemed.domain.fiscal_code import build_fiscal_code
from tests.helpers.migrations import T0, downgrade, schema_differences, upgrade, upgraded_over

TWICE = build_fiscal_code("Marta", "Galli", date(1981, 6, 3), "F", "Bologna")
ALSO_TWICE = build_fiscal_code("Paolo", "Neri", date(1975, 9, 12), "M", "Milano")
ONCE = build_fiscal_code("Luca", "Gialli", date(1990, 1, 20), "M", "Torino")
ROWS = {"u1": TWICE, "u2": TWICE, "u3": ALSO_TWICE, "u4": ALSO_TWICE, "u5": ALSO_TWICE,
        "u6": ONCE, "u7": None, "u8": None}


async def _user(conn: AsyncConnection, user_id: str, code: str | None) -> None:
    await conn.execute(text(
        "INSERT INTO users (id, username, password_hash, role, display_name, active, "
        "failed_logins, created_at, fiscal_code) VALUES (:id, :id, 'x', 'nurse', 'N', true, "
        "0, :t, :code)"), {"id": user_id, "t": T0, "code": code})


async def _old_rows(conn: AsyncConnection) -> None:
    """Staff accounts written by the 0024 schema: two codes held twice and three times."""
    for user_id, code in ROWS.items():
        await _user(conn, user_id, code)


def _fiscal_index(conn: Connection) -> bool:
    """Whether ix_users_fiscal_code is unique (it exists either way)."""
    [index] = [i for i in inspect(conn).get_indexes("users")
               if i["name"] == "ix_users_fiscal_code"]
    assert index["column_names"] == ["fiscal_code"]
    return bool(index["unique"])


async def _state(engine: AsyncEngine) -> tuple[str, bool, dict[str, str | None]]:
    async with engine.connect() as conn:
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        rows = (await conn.execute(text("SELECT id, fiscal_code FROM users"))).all()
        return str(version), await conn.run_sync(_fiscal_index), {r[0]: r[1] for r in rows}


async def test_0025_refuses_duplicates_then_makes_the_code_unique(database_url: str) -> None:
    url = database_url
    with pytest.raises(RuntimeError) as refused:
        async with upgraded_over(url, _old_rows, before="0024"):
            pass
    message = str(refused.value)
    assert "2 staff/delegate fiscal code(s) are held by more than one account" in message
    assert "Nothing was changed" in message and "run the upgrade again" in message
    assert "fiscal-code" in message and "GROUP BY fiscal_code" in message  # what to do
    assert all(code not in message for code in (TWICE, ALSO_TWICE, ONCE))

    engine = create_async_engine(url)
    try:
        assert await _state(engine) == ("0024", False, ROWS)  # nothing changed
        async with engine.begin() as conn:  # what the message asks for: one account each
            await conn.execute(text(
                "UPDATE users SET fiscal_code = NULL WHERE id IN ('u2', 'u4', 'u5')"))
        await upgrade(url)
        version, unique, rows = await _state(engine)
        assert (version, unique) == (current_revision_head(), True)  # 0025 and any later
        assert rows == {**ROWS, "u2": None, "u4": None, "u5": None}  # no row touched
        async with engine.connect() as conn:
            assert await conn.run_sync(schema_differences) == []  # models == migrations
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await _user(conn, "u9", ONCE)
        async with engine.begin() as conn:  # any number of accounts without a code
            await _user(conn, "u10", None)

        await downgrade(url, "0024")
        version, unique, _ = await _state(engine)
        assert (version, unique) == ("0024", False)
        async with engine.begin() as conn:
            await _user(conn, "u11", ONCE)  # the old schema took a duplicate
        with pytest.raises(RuntimeError):
            await upgrade(url)
        assert (await _state(engine))[:2] == ("0024", False)
    finally:
        await engine.dispose()
