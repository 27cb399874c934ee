"""Migration 0009 (patient search terms and list indexes) on SQLite and PostgreSQL, with
patients registered before it: their search terms are filled, the models match the schema,
and the downgrade removes what it added."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.helpers.migrations import (
    downgrade,
    indexes,
    old_patient,
    schema_differences,
    tables,
    upgrade,
    upgraded_over,
)


async def _old_patient(conn: AsyncConnection) -> None:
    await old_patient(conn, code="DMCNCL50A01H501U", given="Niccolò", family="D'Amico")


async def test_0009(database_url: str) -> None:
    url = database_url
    async with upgraded_over(url, _old_patient, before="0008") as engine:
        async with engine.connect() as conn:
            terms = (await conn.execute(text(
                "SELECT term FROM patient_search_terms WHERE patient_id = 'p1'"))).scalars()
            assert set(terms) == {"niccolo", "d", "amico", "damico", "dmcncl50a01h501u"}
            assert "ix_patients_name_order" in await conn.run_sync(indexes, "patients")
            assert {"ix_consents_in_force", "ix_consents_refusals"} <= await conn.run_sync(
                indexes, "consents")
            assert await conn.run_sync(schema_differences) == []  # models == migrations
        await downgrade(url, "0008")
        async with engine.connect() as conn:
            assert "patient_search_terms" not in await conn.run_sync(tables)
            assert "ix_patients_name_order" not in await conn.run_sync(indexes, "patients")
            assert not {"ix_consents_in_force", "ix_consents_refusals"} & await conn.run_sync(
                indexes, "consents")
        await upgrade(url)
