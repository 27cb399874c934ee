"""Migration 0024 (daily digest) on SQLite and PostgreSQL, with existing users and
notifications: they keep their behaviour (nothing held, every kind right away), the new
table takes one summary per user and due instant, and the downgrade drops it all."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.helpers.migrations import (
    T0,
    columns,
    downgrade,
    indexes,
    schema_differences,
    tables,
    upgrade,
    upgraded_over,
)


async def _old_rows(conn: AsyncConnection) -> None:
    """A user with choices and a notification written by the 0023 schema."""
    await conn.execute(text(
        "INSERT INTO users (id, username, password_hash, role, display_name, active, "
        "notify_prefs, failed_logins, created_at) VALUES ('u1', 'dr', 'x', 'doctor', 'Dr', "
        "true, :prefs, 0, :t)"), {"prefs": '{"teleconsult_request": false}', "t": T0})
    await conn.execute(text(
        "INSERT INTO notifications (id, user_id, kind, title_code, params, link, cause_type, "
        "cause_id, created_at, fold_count) VALUES ('n1', 'u1', 'document_cosign', "
        "'document_cosign', '{}', '/documents/d1', 'document', 'd1', :t, 1)"), {"t": T0})


async def _summary(conn: AsyncConnection, digest_id: str) -> None:
    await conn.execute(text(
        "INSERT INTO notification_digests (id, user_id, due_at, items, address, status, "
        "attempts, next_attempt_at, message_id, created_at) VALUES (:id, 'u1', :t, 1, "
        "'dr@asl.example', 'pending', 0, :t, '<x@y>', :t)"), {"id": digest_id, "t": T0})


async def test_0024(database_url: str) -> None:
    url = database_url
    async with upgraded_over(url, _old_rows, before="0023", after="0024") as engine:
        async with engine.connect() as conn:
            assert {"digest_kinds", "digest_time"} <= await conn.run_sync(columns, "users")
            assert {"held_at", "digest_id"} <= await conn.run_sync(columns, "notifications")
            # (0027 replaces it with ix_notifications_due)
            assert "ix_notifications_held" in await conn.run_sync(indexes, "notifications")
        await upgrade(url)
        async with engine.connect() as conn:
            assert await conn.run_sync(schema_differences) == []  # models == migrations
            row = (await conn.execute(text(
                "SELECT digest_kinds, digest_time FROM users WHERE id = 'u1'"))).one()
            assert tuple(row) == (None, None)  # right away, at the default time
            held = (await conn.execute(text(
                "SELECT held_at, digest_id FROM notifications WHERE id = 'n1'"))).one()
            assert tuple(held) == (None, None)
        async with engine.begin() as conn:
            await _summary(conn, "g1")
            await conn.execute(text("UPDATE notifications SET digest_id = 'g1', held_at = :t"),
                               {"t": T0})
        with pytest.raises(IntegrityError):  # one summary per user and due instant
            async with engine.begin() as conn:
                await _summary(conn, "g2")
        await downgrade(url, "0023")
        async with engine.connect() as conn:
            assert "notification_digests" not in await conn.run_sync(tables)
            assert not {"held_at", "digest_id"} & await conn.run_sync(columns, "notifications")
            assert not {"digest_kinds", "digest_time"} & await conn.run_sync(columns, "users")
            kept = (await conn.execute(text("SELECT kind FROM notifications"))).scalars().all()
            assert kept == ["document_cosign"]
        await upgrade(url)
