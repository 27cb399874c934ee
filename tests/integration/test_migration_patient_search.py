"""Migration 0009 (patient search terms and list indexes) on SQLite and PostgreSQL, with
patients registered before it: their search terms are filled, the models match the schema,
and the downgrade removes what it added."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

from telemed.db import migrate

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _schema_differences(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, SQLModel.metadata))


def _indexes(conn: Connection, table: str) -> set[str]:
    return {i["name"] for i in inspect(conn).get_indexes(table) if i["name"]}


async def _check(url: str) -> None:
    await asyncio.to_thread(migrate.upgrade, url, "0008")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO patients (id, fiscal_code, given_name, family_name, birth_date, "
                "sex, timezone, created_at, updated_at) VALUES ('p1', 'DMCNCL50A01H501U', "
                "'Niccolò', 'D''Amico', :birth, 'M', 'Europe/Rome', :t, :t)"),
                {"birth": date(1950, 1, 1), "t": T0})
        await asyncio.to_thread(migrate.upgrade, url)
        async with engine.connect() as conn:
            terms = (await conn.execute(text(
                "SELECT term FROM patient_search_terms WHERE patient_id = 'p1'"))).scalars()
            assert set(terms) == {"niccolo", "d", "amico", "damico", "dmcncl50a01h501u"}
            assert "ix_patients_name_order" in await conn.run_sync(_indexes, "patients")
            assert {"ix_consents_in_force", "ix_consents_refusals"} <= await conn.run_sync(
                _indexes, "consents")
            assert await conn.run_sync(_schema_differences) == []  # models == migrations
        await asyncio.to_thread(command.downgrade, migrate.alembic_config(url), "0008")
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
            assert "patient_search_terms" not in tables
            assert "ix_patients_name_order" not in await conn.run_sync(_indexes, "patients")
            assert not {"ix_consents_in_force", "ix_consents_refusals"} & await conn.run_sync(
                _indexes, "consents")
        await asyncio.to_thread(migrate.upgrade, url)
    finally:
        await engine.dispose()


async def test_0009_on_sqlite(tmp_path: Path) -> None:
    await _check(f"sqlite+aiosqlite:///{tmp_path / 'telemed.db'}")


@pytest.mark.postgres
async def test_0009_on_postgres(postgres_url: str) -> None:
    await _check(postgres_url)
