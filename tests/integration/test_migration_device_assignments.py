"""Migration 0005 (device assignment history) on SQLite and PostgreSQL, with existing devices.

Each assigned device gets one interval for its current patient: from its registration, or
from its earliest stored reading when that is older (so what the record holds stays
attributable), until its revocation (open when not revoked). Unassigned devices get none.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.helpers.migrations import T0, downgrade, old_patient, tables, upgrade, upgraded_over


async def _old_rows(conn: AsyncConnection) -> None:
    """Two patients and three devices written by the 0004 schema."""
    for pid, code in (("p1", "RSSMRA50A01H501U"), ("p2", "VRDLGU60A01H501X")):
        await old_patient(conn, pid, code)
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


async def test_0005(database_url: str) -> None:
    url = database_url
    async with upgraded_over(url, _old_rows, before="0004", after="0005") as engine:
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
        await downgrade(url, "0004")
        async with engine.connect() as conn:
            assert "device_assignments" not in await conn.run_sync(tables)
        await upgrade(url)
