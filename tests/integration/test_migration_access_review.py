"""Migration 0006 (emergency reasons and review, delegation requests, audit without clinical
text) on SQLite and PostgreSQL, with rows written by the older schema."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.helpers.migrations import T0, columns, downgrade, old_patient, upgraded_over

OLD_REASONS = {  # audit reasons of the older code → what is left of them
    ("alert", None, "create", "threshold critical: Oxygen saturation 84 % (critical low)"):
        "opened",
    ("alert", None, "update", "escalated critical: Oxygen saturation 80 %"): "escalated",
    ("alert", None, "update", "updated warning: Weight +2.4 kg in 72 h"): "updated",
    ("alert", None, "update", "recovered"): "recovered",
    ("consent", "u1", "update", "revoked: non voglio che si sappia della dispnea"): "revoked",
    ("consent", "u1", "update", "granted"): "granted",
    ("patient", "u1", "emergency", "Paziente in overdose, incosciente"): "emergency access",
    ("careplan", "u1", "update", "version 2"): "version 2",  # not clinical: kept
}


async def _old_rows(conn: AsyncConnection) -> None:
    await old_patient(conn)
    await conn.execute(text(
        "INSERT INTO users (id, username, password_hash, role, display_name, active, "
        "failed_logins, created_at) VALUES ('u1', 'er', 'x', 'doctor', 'Er', true, 0, :t)"),
        {"t": T0})
    await conn.execute(text(
        "INSERT INTO emergency_accesses (id, patient_id, user_id, reason, granted_at, "
        "expires_at) VALUES ('e1', 'p1', 'u1', 'Paziente incosciente', :t, :end)"),
        {"t": T0, "end": T0 + timedelta(hours=1)})
    for i, ((resource, actor, action, reason), _) in enumerate(OLD_REASONS.items()):
        await conn.execute(text(
            "INSERT INTO audit_events (id, at, actor_id, patient_id, action, resource, "
            "reason, emergency, outcome) VALUES (:id, :t, :actor, 'p1', :action, "
            ":resource, :reason, false, 'success')"),
            {"id": i + 1, "t": T0, "actor": actor, "action": action, "resource": resource,
             "reason": reason})


async def test_0006(database_url: str) -> None:
    url = database_url
    async with upgraded_over(url, _old_rows, before="0005", after="0006") as engine:
        async with engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT id, reason FROM audit_events ORDER BY id"))).all()
            assert [r[1] for r in rows] == list(OLD_REASONS.values())
            grant = (await conn.execute(text(
                "SELECT reason_code, reviewed_at, review_outcome FROM emergency_accesses"
            ))).one()
            assert tuple(grant) == ("unspecified", None, None)
        await downgrade(url, "0005")
        async with engine.connect() as conn:
            assert "reason_code" not in await conn.run_sync(columns, "emergency_accesses")
            assert "request_note" not in await conn.run_sync(columns, "delegations")
