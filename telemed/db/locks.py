"""Transaction-scoped locks that serialise work on one patient across ingest workers.

Several ingest workers (the shared subscription hands consecutive messages of one device to
different workers) may evaluate the same patient's rules at the same time. Rule state
(confirm counts, hysteresis), NEWS2 and trends read what earlier readings left behind, so two
overlapping transactions would each miss the other's readings and the last write would win.
`lock_patients` takes a PostgreSQL advisory lock per patient for the rest of the transaction,
always in the same order (so two batches never deadlock); the second worker waits for the
first to commit and then sees its readings and state. SQLite has a single writer: nothing to do.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, INTEGER
from sqlmodel.ext.asyncio.session import AsyncSession

PATIENT_LOCKS = 7_242_613  # advisory-lock namespace of patients (the scheduler uses 7_242_612)

_LOCK = text(
    "SELECT count(pg_advisory_xact_lock(:namespace, key)) "
    "FROM unnest(:keys) WITH ORDINALITY AS t(key, n)"
).bindparams(bindparam("keys", type_=ARRAY(INTEGER)))


def lock_key(patient_id: str) -> int:
    """A stable signed 32-bit key of a patient id."""
    digest = hashlib.blake2b(patient_id.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock_patients(session: AsyncSession, patient_ids: Iterable[str]) -> None:
    """Hold each patient's lock until the session's transaction ends (PostgreSQL only)."""
    keys = sorted({lock_key(pid) for pid in patient_ids})
    if not keys:
        return
    conn = await session.connection()
    if conn.dialect.name != "postgresql":
        return
    await conn.execute(_LOCK, {"namespace": PATIENT_LOCKS, "keys": keys})
