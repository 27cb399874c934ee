"""The population view: the caller's patients ranked by need, for the COT and the team lead.

Need is what the platform already found: open alerts (critical ones, worsening trends,
missed measurements, silent devices, the latest NEWS2 score that raised an alert) and
devices not heard from in ``days`` days (the newest ``last_seen`` of the patient's devices:
every reading a device sends updates it). A patient with none of these needs nothing and is
not listed; the counts say how many patients have each need.

One query: the patients with open alerts (grouped) or whose devices all went quiet, joined to
the patients with the access rule as a condition; each candidate's devices' newest
``last_seen`` through the device index.
The patients are those whose record the caller may consult (`scope.visible`): the view shows
more than alerts (when each was last heard from), so a patient who withdrew consent is not
in it (their alerts still reach the doctors who monitor them, on the alert board).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, union
from sqlalchemy import select as sa_select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import Alert, Device, Patient
from telemed.db.types import utcnow
from telemed.domain.audit_reasons import because
from telemed.errors import forbidden
from telemed.principal import Principal
from telemed.services import scope
from telemed.services.audit import record_reads

NEEDS = ("critical", "warning", "trend", "missed", "silent", "stale", "news2")
NEWS2_HIGH = 5  # a NEWS2 score from 5 asks for an urgent response (RCP)
DAYS = (1, 30)
LIMIT = 100


@dataclass(frozen=True, slots=True)
class PopulationFilter:
    """Which need to show (``""``: any) and after how many days without a device heard
    from a patient counts as ``stale``."""

    need: str = ""
    days: int = 3

    @classmethod
    def of(cls, query: Any) -> PopulationFilter:
        need = str(query.get("need", ""))
        raw = str(query.get("days", ""))
        days = int(raw) if raw.isdigit() else 3
        return cls(need=need if need in NEEDS else "", days=min(max(days, DAYS[0]), DAYS[1]))


@dataclass(frozen=True, slots=True)
class PatientNeed:
    """One patient's needs."""

    patient: Patient
    critical: int
    warnings: int
    trend: int
    missed: int
    silent: int
    news2: float | None
    last_heard: datetime | None
    stale: bool

    @property
    def needs(self) -> tuple[str, ...]:
        found = [("critical", self.critical > 0), ("warning", self.warnings > 0),
                 ("trend", self.trend > 0),
                 ("missed", self.missed > 0), ("silent", self.silent > 0),
                 ("stale", self.stale),
                 ("news2", self.news2 is not None and self.news2 >= NEWS2_HIGH)]
        return tuple(name for name, present in found if present)

    def rank(self) -> tuple[Any, ...]:
        """Most in need first: critical alerts, NEWS2, then the other signals, then the
        longest silence."""
        heard = self.last_heard.timestamp() if self.last_heard is not None else 0.0
        return (-self.critical, -(self.news2 or 0), -(self.trend + self.missed + self.silent),
                -self.warnings, -int(self.stale), heard, self.patient.family_name,
                self.patient.given_name, self.patient.id)

    def out(self) -> dict[str, Any]:
        return {"patient": {"id": self.patient.id, "given_name": self.patient.given_name,
                            "family_name": self.patient.family_name},
                "critical": self.critical, "warnings": self.warnings, "trend": self.trend,
                "missed": self.missed, "silent": self.silent, "news2": self.news2,
                "last_heard": self.last_heard.isoformat() if self.last_heard else None,
                "needs": list(self.needs)}


@dataclass(frozen=True, slots=True)
class Population:
    items: list[PatientNeed]
    counts: dict[str, int]  # need → patients with it; "any" → patients with some need
    truncated: bool


def _count(condition: Any) -> Any:
    return func.sum(case((condition, 1), else_=0))


async def population(session: AsyncSession, who: Principal, filters: PopulationFilter,
                     now: datetime | None = None, request_id: str | None = None,
                     limit: int = LIMIT) -> Population:
    """The caller's patients in need, most in need first (at most ``limit``), and the counts
    of each need; the patients listed are audited (one statement)."""
    if not who.is_clinician:
        raise forbidden("The population view is for clinicians.")
    visible = scope.visible(col(Patient.id), who)
    assert visible is not None  # clinicians always have a condition
    now = now or utcnow()
    cutoff = now - timedelta(days=filters.days)
    need = (
        sa_select(
            col(Alert.patient_id).label("patient_id"),
            _count(col(Alert.severity) == "critical").label("critical"),
            _count(col(Alert.severity) == "warning").label("warnings"),
            _count(col(Alert.kind) == "trend").label("trend"),
            _count(col(Alert.kind) == "missed_measurement").label("missed"),
            _count(col(Alert.kind) == "device_silent").label("silent"),
            func.max(case((col(Alert.kind) == "news2", col(Alert.value)))).label("news2"),
        )
        .where(col(Alert.status) != "resolved")
        .group_by(col(Alert.patient_id))
        .subquery())
    last_heard = func.coalesce(col(Device.last_seen), col(Device.created_at))
    live = (col(Device.patient_id).is_not(None), col(Device.revoked_at).is_(None))
    # The patients with a need: those with open alerts, and those whose devices all went
    # quiet before the cutoff (one pass over the devices, grouped).
    candidates = union(
        sa_select(need.c.patient_id.label("patient_id")),
        sa_select(col(Device.patient_id).label("patient_id")).where(*live)
        .group_by(col(Device.patient_id)).having(func.max(last_heard) < cutoff),
    ).subquery()
    heard = (sa_select(func.max(last_heard)).where(*live)
             .where(col(Device.patient_id) == col(Patient.id)).scalar_subquery())
    stmt: Any = (
        sa_select(Patient, need.c.critical, need.c.warnings, need.c.trend, need.c.missed,
                  need.c.silent, need.c.news2, heard)
        .select_from(candidates)
        .join(Patient, col(Patient.id) == candidates.c.patient_id)
        .outerjoin(need, need.c.patient_id == col(Patient.id))
        .where(visible))
    rows = (await session.exec(stmt)).all()
    found = []
    for patient, critical, warnings, trend, missed, silent, news2, last_heard in rows:
        found.append(PatientNeed(
            patient=patient, critical=int(critical or 0), warnings=int(warnings or 0),
            trend=int(trend or 0), missed=int(missed or 0), silent=int(silent or 0),
            news2=float(news2) if news2 is not None else None, last_heard=last_heard,
            stale=last_heard is not None and last_heard < cutoff))
    counts = {name: sum(1 for p in found if name in p.needs) for name in NEEDS}
    counts["any"] = sum(1 for p in found if p.needs)
    shown = sorted((p for p in found if p.needs and (not filters.need
                                                     or filters.need in p.needs)),
                   key=PatientNeed.rank)
    items = shown[:limit]
    await record_reads(session, actor=who, resource="patient",
                       reads={(p.patient.id, None) for p in items},
                       reason=because("population_view"), request_id=request_id)
    await session.commit()
    return Population(items, counts, len(shown) > limit)
