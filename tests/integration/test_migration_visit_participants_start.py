"""Migration 0026 (a clinician's visits in time order from one index) on SQLite and
PostgreSQL, with visits scheduled before it: each participant row gets its visit's start,
the models match the schema, and the downgrade restores the index on the user alone."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.helpers import migrations as m

STARTS = {"v1": m.T0, "v2": m.T0 + timedelta(days=3, minutes=15)}


async def _old_rows(conn: AsyncConnection) -> None:
    """Two visits with their invited clinicians, as the 0025 schema wrote them."""
    await m.old_patient(conn)
    for user_id in ("u1", "u2"):
        await conn.execute(text(
            "INSERT INTO users (id, username, password_hash, role, display_name, active, "
            "failed_logins, created_at) VALUES (:id, :id, 'x', 'doctor', 'Dr', true, 0, :t)"),
            {"id": user_id, "t": m.T0})
    for visit_id, start in STARTS.items():
        await conn.execute(text(
            "INSERT INTO visits (id, kind, patient_id, scheduled_start, duration_minutes, "
            "status, created_by, created_at, patient_invited) VALUES (:id, 'televisit', 'p1', "
            ":start, 30, 'scheduled', 'u1', :t, true)"),
            {"id": visit_id, "start": start, "t": m.T0})
    for visit_id, user_id in (("v1", "u1"), ("v1", "u2"), ("v2", "u1")):
        await conn.execute(text(
            "INSERT INTO visit_participants (visit_id, user_id) VALUES (:v, :u)"),
            {"v": visit_id, "u": user_id})


async def test_0026(database_url: str) -> None:
    url = database_url
    async with m.upgraded_over(url, _old_rows, before="0025") as engine:
        async with engine.connect() as conn:
            copied = (await conn.execute(text(
                "SELECT p.visit_id, p.user_id FROM visit_participants p JOIN visits v "
                "ON v.id = p.visit_id WHERE p.scheduled_start = v.scheduled_start"))).all()
            assert sorted(map(tuple, copied)) == [("v1", "u1"), ("v1", "u2"), ("v2", "u1")]
            found = await conn.run_sync(m.indexes, "visit_participants")
            assert "ix_visit_participants_user_start" in found
            assert "ix_visit_participants_user_id" not in found
            assert await conn.run_sync(m.schema_differences) == []  # models == migrations
        await m.downgrade(url, "0025")
        async with engine.connect() as conn:
            found = await conn.run_sync(m.indexes, "visit_participants")
            assert "ix_visit_participants_user_id" in found
            assert "ix_visit_participants_user_start" not in found
        await m.upgrade(url)
