"""The Alembic migrations run on the local PostgreSQL server, on a fresh database."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from telemed.db import migrate

pytestmark = pytest.mark.postgres


async def test_upgrade_creates_schema(postgres_url: str) -> None:
    await asyncio.to_thread(migrate.upgrade, postgres_url)
    engine = create_async_engine(postgres_url)
    async with engine.connect() as conn:
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        tables = set(
            (await conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ))).scalars()
        )
    await engine.dispose()
    assert version == migrate.current_revision_head()
    assert {"users", "patients", "careplans", "devices", "observations", "alerts", "visits",
            "consents", "audit_events", "care_team_members"} <= tables
    # Running it again is a no-op.
    await asyncio.to_thread(migrate.upgrade, postgres_url)
