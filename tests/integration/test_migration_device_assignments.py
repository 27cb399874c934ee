"""Migration 0005 (device assignment history) on SQLite and PostgreSQL, with existing devices.

Each assigned device gets one interval for its current patient: from its registration, or
from its earliest stored reading when that is older (so what the record holds stays
attributable), until its revocation (open when not revoked). Unassigned devices get none.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from telemed.db import migrate

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


async def _old_rows(engine: AsyncEngine) -> None:
    """Two patients and three devices written by the 0004 schema."""
    async with engine.begin() as conn:
        for pid, code in (("p1", "RSSMRA50A01H501U"), ("p2", "VRDLGU60A01H501X")):
            await conn.execute(text(
                "INSERT INTO patients (id, fiscal_code, given_name, family_name, birth_date, "
                "sex, timezone, created_at, updated_at) VALUES (:id, :code, 'Mario', 'Rossi', "
                ":birth, 'M', 'Europe/Rome', :t, :t)"),
                {"id": pid, "code": code, "birth": date(1950, 1, 1), "t": T0})
        for did, pid, revoked in (("d1", "p1", None), ("d2", "p2", T0 + timedelta(days=2)),
                                  ("d3", None, None)):
            await conn.execute(text(
                "INSERT INTO devices (id, serial, kind, patient_id, status, secret_hash, "
                "created_at, revoked_at) VALUES (:id, :id, 'multi', :pid, 'offline', '', :t, "
                ":revoked)"), {"id": did, "pid": pid, "t": T0, "revoked": revoked})
        # d1 sent a buffered reading taken an hour before it was registered
        await conn.execute(text(
            "INSERT INTO observations (patient_id, device_id, metric, value, unit, time, "
            "received_at, late) VALUES ('p1', 'd1', 'heart_rate', 70, '/min', :at, :t, true)"),
            {"at": T0 - timedelta(hours=1), "t": T0})


async def _check(url: str) -> None:
    await asyncio.to_thread(migrate.upgrade, url, "0004")
    engine = create_async_engine(url)
    try:
        await _old_rows(engine)
        await asyncio.to_thread(migrate.upgrade, url, "0005")
        from telemed.db.types import UTCDateTime

        kind = UTCDateTime()
        async with engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT device_id, patient_id, valid_from, valid_until FROM device_assignments "
                "ORDER BY device_id"))).all()
            dialect = conn.dialect

            def aware(value: object) -> datetime | None:
                if isinstance(value, str):
                    value = datetime.fromisoformat(value)
                return kind.process_result_value(value, dialect)  # type: ignore[arg-type]

            got = [(r[0], r[1], aware(r[2]), aware(r[3])) for r in rows]
        assert got == [("d1", "p1", T0 - timedelta(hours=1), None),
                       ("d2", "p2", T0, T0 + timedelta(days=2))]
        with pytest.raises(IntegrityError):  # one open interval per device, at most
            async with engine.begin() as conn:
                await conn.execute(text(
                    "INSERT INTO device_assignments (device_id, patient_id, valid_from) "
                    "VALUES ('d1', 'p2', :t)"), {"t": T0 + timedelta(days=1)})
        config = migrate.alembic_config(url)
        await asyncio.to_thread(command.downgrade, config, "0004")
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
            assert "device_assignments" not in tables
        await asyncio.to_thread(migrate.upgrade, url)
    finally:
        await engine.dispose()


async def test_0005_on_sqlite(tmp_path: Path) -> None:
    await _check(f"sqlite+aiosqlite:///{tmp_path / 'telemed.db'}")


@pytest.mark.postgres
async def test_0005_on_postgres(postgres_url: str) -> None:
    await _check(postgres_url)
