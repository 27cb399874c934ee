"""Migration 0019 (audit reasons as codes) on SQLite and PostgreSQL, with rows of the old text."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Integer, String, column, select, table, text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.helpers.migrations import (
    T0,
    columns,
    downgrade,
    schema_differences,
    upgrade,
    upgraded_over,
)

AUDIT = table("audit_events", column("id", Integer), column("reason_code", String),
              column("reason_params", JSON))
STAMP = "2026-03-01T09:00:00+00:00"
# (resource, reason as the 0018 schema's versions wrote it) → (code, params) after 0019
OLD_ROWS: list[tuple[str, str | None, str | None, dict[str, Any] | None]] = [
    ("alert", "acknowledge", "alert_acknowledge", None),
    ("patient", "emergency: on_call_cover", "emergency", {"grounds": "on_call_cover"}),
    ("careplan", "version 3", "careplan_version", {"version": "3"}),
    ("alert", "on-call access: resolve", "oncall_access_for", {"for": "alert_resolve"}),
    ("device", f"command line: device SN-1 taken from this patient at {STAMP}",
     "command_line_for", {"for": "device_taken", "serial": "SN-1", "at": STAMP}),
    ("delegation", "parent (read): Anna Bianchi (written request: prot. 77/2026)",
     "delegation_requested", {"relationship": "parent", "scope": "read",
                              "delegate": "Anna Bianchi", "note": "prot. 77/2026"}),
    ("teleconsult", "accept", "legacy", {"text": "accept"}),  # a text of no known code
    ("patient", None, None, None),
]


async def _old_rows(conn: AsyncConnection) -> None:
    for number, (resource, reason, _, _) in enumerate(OLD_ROWS, start=1):
        await conn.execute(text(
            "INSERT INTO audit_events (id, at, patient_id, action, resource, reason, "
            "emergency, outcome) VALUES (:id, :at, 'p1', 'read', :resource, :reason, "
            "false, 'success')"), {"id": number, "at": T0, "resource": resource, "reason": reason})


async def test_0019(database_url: str) -> None:
    url = database_url
    async with upgraded_over(url, _old_rows, before="0018") as engine:
        async with engine.connect() as conn:
            names = await conn.run_sync(columns, "audit_events")
            assert {"reason_code", "reason_params"} <= names and "reason" not in names
            assert await conn.run_sync(schema_differences) == []  # models == migrations
            rows = (await conn.execute(select(AUDIT.c.reason_code, AUDIT.c.reason_params)
                                       .order_by(AUDIT.c.id))).all()
        assert [tuple(row) for row in rows] == [(code, params) for *_, code, params in OLD_ROWS]
        await downgrade(url, "0018")
        async with engine.connect() as conn:
            assert not {"reason_code", "reason_params"} & await conn.run_sync(
                columns, "audit_events")
            back = (await conn.execute(text(
                "SELECT reason FROM audit_events ORDER BY id"))).scalars().all()
        assert back == [reason for _, reason, _, _ in OLD_ROWS]  # the same texts again
        await upgrade(url)
