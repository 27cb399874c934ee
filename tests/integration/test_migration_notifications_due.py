"""Migration 0027 (held notifications say when they are due) on SQLite and PostgreSQL, with
notifications held before it: each gets its due instant by its owner's choices, read in the
time zone `telemed db upgrade` gives (here Asia/Tokyo, not the default), a kind its owner
switched back to right away is due at once, what a summary took or nothing held stays
undated; the digest pass then makes their summaries. The downgrade restores 0024's index."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select

from telemed.db.engine import make_session_factory
from telemed.db.models import Notification, NotificationDigest
from telemed.db.types import utcnow
from telemed.notify import digests
from tests.helpers import migrations as m

HELD = m.T0 - timedelta(hours=1)  # 17:00 in Tokyo
ZONE = "Asia/Tokyo"  # UTC+9 all year


async def _old_rows(conn: AsyncConnection) -> None:
    """Two people who chose the digest and their notifications, as 0026 left them: u1 at
    18:00 for both kinds; u2 at the default 07:30, who has switched teleconsult news back to
    right away since n3 was held. n4 was taken by a summary already, n5 never held."""
    for user_id, kinds, at in (("u1", '["teleconsult_request", "document_cosign"]', "18:00"),
                               ("u2", '["document_cosign"]', None)):
        await conn.execute(text(
            "INSERT INTO users (id, username, password_hash, role, display_name, active, "
            "email, digest_kinds, digest_time, failed_logins, created_at) VALUES (:id, :id, "
            "'x', 'doctor', 'Dr', true, :email, :kinds, :at, 0, :t)"),
            {"id": user_id, "email": f"{user_id}@asl.example", "kinds": kinds, "at": at,
             "t": m.T0})
    await conn.execute(text(
        "INSERT INTO notification_digests (id, user_id, due_at, items, address, status, "
        "attempts, next_attempt_at, message_id, created_at) VALUES ('g1', 'u1', :t, 1, "
        "'u1@asl.example', 'sent', 1, :t, '<g1@asl.example>', :t)"), {"t": HELD})
    for key, user_id, kind, held, digest_id in (
            ("n1", "u1", "teleconsult_request", HELD, None),
            ("n2", "u2", "document_cosign", m.T0, None),
            ("n3", "u2", "teleconsult_update", HELD, None),
            ("n4", "u1", "document_cosign", HELD - timedelta(days=1), "g1"),
            ("n5", "u1", "visit_changed", None, None)):
        await conn.execute(text(
            "INSERT INTO notifications (id, user_id, kind, title_code, params, link, "
            "cause_type, cause_id, created_at, dispatched_at, fold_count, held_at, digest_id) "
            "VALUES (:id, :user, :kind, :kind, '{}', '/x', 'teleconsult', :id, :t, :t, 1, "
            ":held, :digest)"),
            {"id": key, "user": user_id, "kind": kind, "t": HELD, "held": held,
             "digest": digest_id})


async def test_0027(database_url: str) -> None:
    url = database_url
    async with m.upgraded_over(url, _old_rows, before="0026", after="0026") as engine:
        before = utcnow()
        await m.upgrade(url, timezone=ZONE)
        async with engine.connect() as conn:
            found = await conn.run_sync(m.indexes, "notifications")
            assert "ix_notifications_due" in found and "ix_notifications_held" not in found
            assert await conn.run_sync(m.schema_differences) == []  # models == migrations
        sessions = make_session_factory(engine)
        async with sessions() as session:
            dated = dict((await session.exec(
                select(Notification.id, Notification.due_at)
                .where(col(Notification.due_at).is_not(None)))).all())
        assert dated.keys() == {"n1", "n2", "n3"}  # n4 taken, n5 never held
        assert dated["n1"] == m.T0  # 18:00 in Tokyo the same day
        assert dated["n2"] == m.T0 + timedelta(hours=13, minutes=30)  # 07:30 the next day
        assert before <= dated["n3"] <= utcnow()  # switched back: at once

        # The digest pass makes their summaries when due, each once.
        assert await digests.make_due(sessions, m.T0, "telemed@asl.example") == 1
        assert await digests.make_due(sessions, utcnow(), "telemed@asl.example") == 1
        async with sessions() as session:
            taken = dict((await session.exec(
                select(Notification.id, NotificationDigest.user_id)
                .join(NotificationDigest,
                      col(NotificationDigest.id) == col(Notification.digest_id))
                .where(NotificationDigest.id != "g1"))).all())
        assert taken == {"n1": "u1", "n2": "u2", "n3": "u2"}

        await m.downgrade(url, "0026")
        async with engine.connect() as conn:
            found = await conn.run_sync(m.indexes, "notifications")
            assert "ix_notifications_held" in found and "ix_notifications_due" not in found
            assert "due_at" not in await conn.run_sync(m.columns, "notifications")
            kept = (await conn.execute(text(
                "SELECT count(*) FROM notifications WHERE held_at IS NOT NULL"))).scalar()
            assert kept == 4
        await m.upgrade(url)
