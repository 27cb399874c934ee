"""Migration 0004 (alert detail code and args) on SQLite and PostgreSQL, with existing alerts."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import Alert
from telemed.domain import alert_detail
from tests.helpers.migrations import (
    T0,
    columns,
    downgrade,
    indexes,
    old_patient,
    schema_differences,
    upgrade,
    upgraded_over,
)

OLD_DETAIL = "Heart rate 150 bpm (critical high) at 2026-03-01T09:00:00+00:00"


async def _old_alert(conn: AsyncConnection) -> None:
    """A patient and an alert written by the 0003 schema."""
    await old_patient(conn)
    await conn.execute(text(
        "INSERT INTO alerts (id, patient_id, rule_key, kind, metric, severity, status, "
        "recovered, value, detail, escalated, opened_at, updated_at, seq) VALUES ('a1', "
        "'p1', 'threshold:heart_rate', 'threshold', 'heart_rate', 'critical', 'open', "
        "false, 150, :detail, false, :t, :t, 1)"), {"detail": OLD_DETAIL, "t": T0})


async def test_0004(database_url: str) -> None:
    url = database_url
    async with upgraded_over(url, _old_alert, before="0003") as engine:
        async with engine.connect() as conn:
            assert {"detail_code", "detail_args"} <= await conn.run_sync(columns, "alerts")
            assert await conn.run_sync(schema_differences) == []  # models == migrations
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
        await downgrade(url, "0003")
        async with engine.connect() as conn:
            assert not {"detail_code", "detail_args"} & await conn.run_sync(columns, "alerts")
            row = (await conn.execute(text("SELECT detail FROM alerts WHERE id = 'a1'"))).one()
            assert row[0] == OLD_DETAIL
            # the partial unique index of open alerts survives the table rebuild (SQLite)
            assert "uq_alerts_open_rule" in await conn.run_sync(indexes, "alerts")
        await upgrade(url)
