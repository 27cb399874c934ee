"""Migration 0029 (indexes in the order of the FHIR searches of care plans, documents and
questionnaire responses) on SQLite and PostgreSQL, over rows written before it: the indexes
exist, the search's order reads them, the models match the schema, and the downgrade drops
them."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.helpers import migrations as m

INDEXES = {"careplans": "ix_careplans_current_period", "documents": "ix_documents_signed",
           "questionnaire_responses": "ix_questionnaire_responses_authored"}
# each search's window (`services.fhir_rows.find`): its order, its always-on filters
WINDOWS = {
    "careplans": "SELECT period_start, plan_id, row_id FROM careplans WHERE is_current IS {true} "
                 "ORDER BY period_start DESC, plan_id DESC LIMIT 202",
    "documents": "SELECT signed_at, id FROM documents WHERE status IN ('signed', 'replaced') "
                 "AND bundle IS NOT NULL AND signed_at IS NOT NULL "
                 "ORDER BY signed_at DESC, id DESC LIMIT 202",
    "questionnaire_responses": "SELECT authored_at, id FROM questionnaire_responses "
                               "ORDER BY authored_at DESC, id DESC LIMIT 202",
}


async def _old_rows(conn: AsyncConnection) -> None:
    """Two versions of a care plan, a draft and a signed document, a questionnaire response,
    as the 0028 schema wrote them."""
    await m.old_patient(conn)
    await conn.execute(text(
        "INSERT INTO users (id, username, password_hash, role, display_name, active, "
        "failed_logins, created_at) VALUES ('u1', 'u1', 'x', 'doctor', 'Dr', true, 0, :t)"),
        {"t": m.T0})
    for version, current in ((1, False), (2, True)):
        await conn.execute(text(
            "INSERT INTO careplans (row_id, plan_id, version, patient_id, status, title, "
            "period_start, content, is_current, created_by, created_at) VALUES (:row, 'c1', "
            ":v, 'p1', 'active', 'PAI', :start, '{}', :current, 'u1', :t)"),
            {"row": f"r{version}", "v": version, "start": m.T0.date(), "current": current,
             "t": m.T0})
    for doc_id, signed in (("d1", None), ("d2", m.T0 + timedelta(hours=1))):
        await conn.execute(text(
            "INSERT INTO documents (id, patient_id, kind, title, status, language, author_id, "
            "sections, created_at, updated_at, signed_at, bundle, publish_attempts) VALUES "
            "(:id, 'p1', 'televisit_report', 'Referto', :status, 'it', 'u1', '{}', :t, :t, "
            ":signed, :bundle, 0)"),
            {"id": doc_id, "status": "signed" if signed else "draft", "t": m.T0,
             "signed": signed, "bundle": "{}" if signed else None})
    await conn.execute(text(
        "INSERT INTO questionnaire_responses (id, patient_id, questionnaire, answers, score, "
        "flags, entered_by, authored_at) VALUES ('q1', 'p1', 'hf_diary', '{}', 3, '[]', 'u1', "
        ":t)"), {"t": m.T0})


async def _plan(conn: AsyncConnection, table: str) -> str:
    """How the database reads `table`'s search window (its plan, as text)."""
    postgres = conn.dialect.name == "postgresql"
    query = WINDOWS[table].format(true="true" if postgres else "1")
    if postgres:
        await conn.execute(text("SET enable_seqscan = off"))  # a few rows: a scan is cheaper
        return "\n".join(r[0] for r in await conn.execute(text(f"EXPLAIN {query}")))
    return "\n".join(str(r[-1]) for r in await conn.execute(text(f"EXPLAIN QUERY PLAN {query}")))


async def test_0029(database_url: str) -> None:
    url = database_url
    async with m.upgraded_over(url, _old_rows, before="0028") as engine:
        async with engine.connect() as conn:
            for table, index in INDEXES.items():
                assert index in await conn.run_sync(m.indexes, table)
                plan = await _plan(conn, table)
                # walked in order: no sort (PostgreSQL), no temporary B-tree (SQLite)
                assert index in plan and "Sort" not in plan and "TEMP B-TREE" not in plan, plan
            assert await conn.run_sync(m.schema_differences) == []  # models == migrations
        await m.downgrade(url, "0028")
        async with engine.connect() as conn:
            for table, index in INDEXES.items():
                assert index not in await conn.run_sync(m.indexes, table)
        await m.upgrade(url)
