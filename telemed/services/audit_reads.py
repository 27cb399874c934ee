"""Audit rows for the reads of a page, written in one statement.

The same rows `telemed.services.audit.record` writes (who, what, when, why, one per patient
or resource read), for a list, a board or a stream that shows many patients at once: one
multi-row insert in the caller's transaction instead of one insert per row, so a page of
200 patients costs one statement, not 200.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Table, insert
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import AuditEvent
from telemed.db.types import utcnow
from telemed.principal import Principal
from telemed.services.audit import Resource

AUDIT: Table = AuditEvent.__table__  # type: ignore[attr-defined]


async def record_reads(
    session: AsyncSession, *, actor: Principal, resource: Resource,
    reads: Iterable[tuple[str, str | None]], reason: str | None = None,
    request_id: str | None = None,
) -> None:
    """One ``read`` audit row per (patient id, resource id or None), in sorted order."""
    at = utcnow()
    rows: list[dict[str, Any]] = [
        {"at": at, "actor_id": actor.user_id, "actor_role": actor.role,
         "patient_id": patient_id, "action": "read", "resource": resource,
         "resource_id": resource_id, "reason": reason, "emergency": False,
         "outcome": "success", "request_id": request_id}
        for patient_id, resource_id in sorted(set(reads), key=lambda r: (r[0], r[1] or ""))
    ]
    if rows:
        await session.exec(insert(AUDIT), params=rows)
