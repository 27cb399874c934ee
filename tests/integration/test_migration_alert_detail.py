"""Migration 0004 (alert detail code and args) on SQLite and PostgreSQL, with existing alerts."""

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
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db import migrate
from telemed.db.models import Alert
from telemed.domain import alert_detail

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
OLD_DETAIL = "Heart rate 150 bpm (critical high) at 2026-03-01T09:00:00+00:00"


async def _old_alert(engine: AsyncEngine) -> None:
    """A patient and an alert written by the 0003 schema."""
    async with engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO patients (id, fiscal_code, given_name, family_name, birth_date, sex, "
            "timezone, created_at, updated_at) VALUES ('p1', 'RSSMRA50A01H501U', 'Mario', "
            "'Rossi', :birth, 'M', 'Europe/Rome', :t, :t)"), {"birth": date(1950, 1, 1), "t": T0})
        await conn.execute(text(
            "INSERT INTO alerts (id, patient_id, rule_key, kind, metric, severity, status, "
            "recovered, value, detail, escalated, opened_at, updated_at, seq) VALUES ('a1', "
            "'p1', 'threshold:heart_rate', 'threshold', 'heart_rate', 'critical', 'open', "
            "false, 150, :detail, false, :t, :t, 1)"), {"detail": OLD_DETAIL, "t": T0})


def _columns(conn: Connection) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns("alerts")}


def _schema_differences(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, SQLModel.metadata))


async def _check(url: str) -> None:
    await asyncio.to_thread(migrate.upgrade, url, "0003")
    engine = create_async_engine(url)
    try:
        await _old_alert(engine)
        await asyncio.to_thread(migrate.upgrade, url)
        async with engine.connect() as conn:
            assert {"detail_code", "detail_args"} <= await conn.run_sync(_columns)
            assert await conn.run_sync(_schema_differences) == []  # models == migrations
        async with AsyncSession(engine) as session:
            old = await session.get(Alert, "a1")
            assert old is not None
            assert (old.detail, old.detail_code, old.detail_args) == (OLD_DETAIL, None, None)
            detail = alert_detail.threshold("heart_rate", 150.0, "critical_high", T0)
            old.detail_code, old.detail_args = detail.code, detail.args_json()
            session.add(old)
            await session.commit()
        async with AsyncSession(engine) as session:
            again = await session.get(Alert, "a1")
            assert again is not None and again.detail_args == {
                "metric": "heart_rate", "value": 150.0, "unit": "/min", "zone": "critical_high",
                "at": "2026-03-01T09:00:00+00:00"}
        config = migrate.alembic_config(url)
        await asyncio.to_thread(command.downgrade, config, "0003")
        async with engine.connect() as conn:
            assert not {"detail_code", "detail_args"} & await conn.run_sync(_columns)
            row = (await conn.execute(text("SELECT detail FROM alerts WHERE id = 'a1'"))).one()
            assert row[0] == OLD_DETAIL
            # the partial unique index of open alerts survives the table rebuild (SQLite)
            indexes = await conn.run_sync(lambda c: inspect(c).get_indexes("alerts"))
            assert "uq_alerts_open_rule" in {i["name"] for i in indexes}
        await asyncio.to_thread(migrate.upgrade, url)
    finally:
        await engine.dispose()


async def test_0004_on_sqlite(tmp_path: Path) -> None:
    await _check(f"sqlite+aiosqlite:///{tmp_path / 'telemed.db'}")


@pytest.mark.postgres
async def test_0004_on_postgres(postgres_url: str) -> None:
    await _check(postgres_url)
