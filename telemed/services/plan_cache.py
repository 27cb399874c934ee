"""Care plans as the periodic jobs see them: every active plan in one query, each content
parsed once per stored version.

A plan version's row never changes content (an edit is a new version with a new row id), so
the parsed content is kept by row id for as long as the scheduler runs. The jobs also keep,
per plan version, metric and time zone, the earliest time a scheduled window can next end
(``next_due``): until then that schedule has nothing to check and costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import CarePlan, Patient
from telemed.domain.careplans import CarePlanContent
from telemed.services.context import SharedContents
from telemed.services.pagination import chunks


@dataclass(frozen=True, slots=True)
class ActivePlan:
    """An active plan's current version, its patient's time zone and parsed content."""

    row_id: str
    plan_id: str
    version: int
    patient_id: str
    timezone: str
    started: datetime
    content: CarePlanContent | None


@dataclass
class PlanCache:
    """Parsed contents by plan row id and the next due times of schedules (see module)."""

    contents: dict[str, CarePlanContent | None] = field(default_factory=dict)
    next_due: dict[tuple[str, str, str], datetime] = field(default_factory=dict)

    _pass: tuple[datetime, dict[str, ActivePlan]] | None = None

    async def active_plans(self, session: AsyncSession,
                           now: datetime | None = None) -> dict[str, ActivePlan]:
        """patient id → its active plan (two queries at most: the plans, and the contents
        of versions not seen before); read once per pass (``now``) however many jobs ask."""
        if now is not None and self._pass is not None and self._pass[0] == now:
            return self._pass[1]
        plans = await self._read(session)
        if now is not None:
            self._pass = (now, plans)
        return plans

    def min_silence_hours(self, default: int) -> int:
        """The shortest ``silence_hours`` of the plans seen (``default`` when none is shorter)."""
        hours = [c.effective_silence_hours for c in self.contents.values() if c is not None]
        return min([default, *hours])

    async def _read(self, session: AsyncSession) -> dict[str, ActivePlan]:
        stmt: Any = (  # seven plain columns: more than sqlmodel's typed select takes
            sa_select(col(CarePlan.row_id), col(CarePlan.plan_id), col(CarePlan.version),
                      col(CarePlan.patient_id), col(Patient.timezone),
                      col(CarePlan.activated_at), col(CarePlan.created_at))
            .join(Patient, col(Patient.id) == col(CarePlan.patient_id))
            .where(col(CarePlan.status) == "active").where(col(CarePlan.is_current)))
        rows = (await session.exec(stmt)).all()
        missing = sorted({row[0] for row in rows} - self.contents.keys())
        # Plans made from the same template share their content: each distinct one is
        # parsed once (contents are immutable values).
        parsed = SharedContents()
        for part in chunks(missing):
            plans = await session.exec(select(CarePlan).where(col(CarePlan.row_id).in_(part)))
            for plan in plans.all():
                self.contents[plan.row_id] = parsed.of(plan)
        live = {row[0] for row in rows}
        for gone in [r for r in self.contents if r not in live]:
            del self.contents[gone]
        for key in [k for k in self.next_due if k[0] not in live]:
            del self.next_due[key]
        return {
            patient_id: ActivePlan(row_id, plan_id, version, patient_id, tz,
                                   activated or created, self.contents.get(row_id))
            for row_id, plan_id, version, patient_id, tz, activated, created in rows
        }
