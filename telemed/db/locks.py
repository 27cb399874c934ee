"""Transaction-scoped locks that serialise work on one patient across ingest workers.

Several ingest workers (the shared subscription hands consecutive messages of one device to
different workers) may evaluate the same patient's rules at the same time. Rule state
(confirm counts, hysteresis), NEWS2 and trends read what earlier readings left behind, so two
overlapping transactions would each miss the other's readings and the last write would win.
A batch therefore holds a PostgreSQL advisory lock per patient until it commits.

`lock_patients` first *waits* for the patients in `wait_for` (in key order, so two workers
never deadlock), then only *tries* the others and returns those another transaction holds:
the caller leaves their messages for its next batch instead of idling while the other
worker commits. SQLite has a single writer: nothing to do, nothing busy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, INTEGER
from sqlmodel.ext.asyncio.session import AsyncSession

PATIENT_LOCKS = 7_242_613  # advisory-lock namespace of patients (the scheduler uses 7_242_612)

_WAIT = text(
    "SELECT count(pg_advisory_xact_lock(:namespace, key)) "
    "FROM unnest(:keys) AS t(key)"
).bindparams(bindparam("keys", type_=ARRAY(INTEGER)))
_TRY = text(
    "SELECT key FROM unnest(:keys) AS t(key) "
    "WHERE NOT pg_try_advisory_xact_lock(:namespace, key)"
).bindparams(bindparam("keys", type_=ARRAY(INTEGER)))


def lock_key(patient_id: str) -> int:
    """A stable signed 32-bit key of a patient id."""
    digest = hashlib.blake2b(patient_id.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock_patients(session: AsyncSession, patient_ids: Iterable[str],
                        wait_for: Iterable[str] = ()) -> set[str]:
    """Lock patients until the transaction ends; return those held elsewhere (not locked).

    Patients in `wait_for` are waited for; the others are only tried.
    """
    conn = await session.connection()
    if conn.dialect.name != "postgresql":
        return set()
    waited = sorted({lock_key(pid) for pid in wait_for})
    if waited:
        await conn.execute(_WAIT, {"namespace": PATIENT_LOCKS, "keys": waited})
    tried = {pid: lock_key(pid) for pid in set(patient_ids)}
    keys = sorted(set(tried.values()) - set(waited))
    if not keys:
        return set()
    busy = {int(row[0]) for row in await conn.execute(
        _TRY, {"namespace": PATIENT_LOCKS, "keys": keys})}
    return {pid for pid, key in tried.items() if key in busy}
