"""The patient's own record, for the person at home (the patient or a delegate).

One use case: `load_home` gathers, for one patient, what the "My record" page shows above
the charts: today's measurements due (from the active plan's schedule) with what was
received and what is missing, each monitored metric of the past week in words
(`telemed.domain.patient_view`), the patient's unresolved alerts in plain words, and the
next visit with its join window. Every read is authorized and audited through
`authorize_patient` (the patient, or a delegate of theirs; nobody else).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import Alert, Observation, Patient
from telemed.db.types import utcnow
from telemed.domain.audit_reasons import because
from telemed.domain.careplans import CarePlanContent, TimedSchedule, effective_bands
from telemed.domain.patient_view import (
    DueItem,
    PlainMessage,
    ScheduledMetric,
    alert_message,
    due_today,
    metric_summary,
)
from telemed.domain.units import METRICS
from telemed.principal import Principal
from telemed.services import visits as visit_service
from telemed.services.access import authorize_patient
from telemed.services.context import load_patient_context

SUMMARY_DAYS = 7


@dataclass(frozen=True, slots=True)
class PatientAlert:
    """An unresolved alert of the patient's, and its plain message."""

    id: str
    kind: str
    opened_at: datetime
    message: PlainMessage


@dataclass(frozen=True, slots=True)
class NextVisit:
    """The patient's next visit and whether it can be joined now."""

    id: str
    kind: str
    start: datetime
    join_opens: datetime
    join_open: bool


@dataclass(slots=True)
class Home:
    """What the top of "My record" shows."""

    patient: Patient
    has_plan: bool
    due: list[DueItem] = field(default_factory=list)
    summaries: list[PlainMessage] = field(default_factory=list)
    alerts: list[PatientAlert] = field(default_factory=list)
    next_visit: NextVisit | None = None


def scheduled_metrics(content: CarePlanContent | None) -> list[ScheduledMetric]:
    """The plan's measurements at fixed times (continuous ones need nobody's hands)."""
    if content is None:
        return []
    return [ScheduledMetric(e.metric, e.schedule.times, e.schedule.tolerance_minutes)
            for e in content.monitoring if isinstance(e.schedule, TimedSchedule)]


async def _readings(session: AsyncSession, patient_id: str, metrics: list[str],
                    since: datetime) -> dict[str, list[tuple[datetime, float]]]:
    found: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    if not metrics:
        return found
    rows = await session.exec(
        select(Observation.metric, Observation.time, Observation.value)
        .where(Observation.patient_id == patient_id)
        .where(col(Observation.metric).in_(metrics))
        .where(col(Observation.time) >= since))
    for metric, at, value in rows.all():
        found[metric].append((at, value))
    return found


async def _open_alerts(session: AsyncSession, patient_id: str) -> list[Alert]:
    return list((await session.exec(
        select(Alert).where(Alert.patient_id == patient_id)
        .where(Alert.status != "resolved")
        .order_by(col(Alert.opened_at).desc()).limit(20))).all())


async def load_home(session: AsyncSession, who: Principal, patient_id: str, *,
                    now: datetime | None = None, request_id: str | None = None) -> Home:
    """The top of the patient's "My record" (audited reads of observations and alerts)."""
    now = now or utcnow()
    patient = await authorize_patient(session, who, patient_id, action="read",
                                      resource="observation", reason=because("my_record"),
                                      request_id=request_id)
    await authorize_patient(session, who, patient_id, action="read", resource="alert",
                            reason=because("my_record"), request_id=request_id)
    context = await load_patient_context(session, patient_id)
    content = context.content if context is not None else None
    home = Home(patient=patient, has_plan=content is not None)
    schedule = scheduled_metrics(content)
    monitored = [e.metric for e in content.monitoring] if content is not None else []
    readings = await _readings(session, patient_id, sorted(set(monitored)),
                               now - timedelta(days=SUMMARY_DAYS))
    home.due = due_today(schedule, {m: [t for t, _ in r] for m, r in readings.items()},
                         patient.timezone, now)
    alerts = await _open_alerts(session, patient_id)
    told = {a.metric for a in alerts if a.metric is not None}
    for metric in dict.fromkeys(monitored):
        if metric == "bp_diastolic" and "bp_systolic" in monitored:
            continue
        home.summaries.append(metric_summary(
            metric, readings.get(metric, []), effective_bands(content, metric),
            told=metric in told, decimals=max(METRICS[metric].decimals, 0)))
    home.alerts = [PatientAlert(a.id, a.kind, a.opened_at,
                                alert_message(a.kind, a.metric,
                                              acknowledged=a.status == "acknowledged"))
                   for a in alerts]
    if patient_id == who.patient_id:  # visits stay the patient's own
        record = await visit_service.next_visit(session, who, now=now)
        if record is not None:
            opens, closes = visit_service.join_window(record.visit)
            home.next_visit = NextVisit(record.visit.id, record.visit.kind,
                                        record.visit.scheduled_start, opens,
                                        opens <= now <= closes)
    await session.commit()
    return home
