"""Periodic rules: missed measurements, silent devices, escalation.

One worker at a time runs a pass (a PostgreSQL advisory lock; SQLite has one process). A pass
costs what is due, not the population (``services.rules``); the scheduler keeps one
``PlanCache`` across its passes so plan contents are parsed once per version and schedules
with no window ending are skipped.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import text

from telemed.bus import ALERTS, EventBus
from telemed.db.engine import SessionFactory
from telemed.db.types import utcnow
from telemed.domain.quiet import NightHours
from telemed.notify.reminders import visit_reminders
from telemed.services import rules
from telemed.services.plan_cache import PlanCache

log = logging.getLogger("telemed.scheduler")

_JOBS_LOCK = 7_242_612  # PostgreSQL advisory lock: one worker runs the jobs at a time


async def run_once(sessions: SessionFactory, bus: EventBus,
                   cache: PlanCache | None = None, night: NightHours | None = None,
                   tz: str = "Europe/Rome") -> int:
    """One pass of every job; returns how many alert changes it made."""
    async with sessions() as session:
        conn = await session.connection()
        if conn.dialect.name == "postgresql":
            got = await conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"),
                                     {"k": _JOBS_LOCK})
            if not got.scalar_one():
                return 0
        changes = await rules.run_jobs(session, cache=cache, night=night, tz=tz)
        await visit_reminders(session, utcnow())
        await session.commit()
    for change in changes:
        await bus.publish(ALERTS, change.event())
    return len(changes)


async def run_scheduler(
    sessions: SessionFactory, bus: EventBus, interval: float,
    night: NightHours | None = None, tz: str = "Europe/Rome",
) -> None:
    """Run the jobs every ``interval`` seconds until cancelled; a failing pass is logged."""
    cache = PlanCache()
    while True:
        try:
            await run_once(sessions, bus, cache, night, tz)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("scheduled rules failed; trying again in %.0fs", interval)
        await asyncio.sleep(interval)
