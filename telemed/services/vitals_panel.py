"""The data of a patient's vitals panel: one authorised read, one statement per part.

The page shows one chart per monitored (or measured) vital; blood pressure is one chart of
two metrics. What the panel needs is loaded here, for every chart at once: the plan, the
latest readings, the period's count, minimum and maximum of each metric, and the newest
readings of each chart for its text table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, union_all
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import Observation
from telemed.domain.audit_reasons import because
from telemed.domain.careplans import CarePlanContent
from telemed.domain.units import METRICS
from telemed.principal import Principal
from telemed.services.access import authorize_patient
from telemed.services.context import load_patient_context
from telemed.services.observations import latest_values

# The order vitals are listed in; blood pressure is one item of two metrics.
VITAL_ORDER: tuple[str, ...] = ("heart_rate", "bp", "spo2", "resp_rate", "body_temp",
                                "blood_glucose", "body_weight")
BP_METRICS: tuple[str, str] = ("bp_systolic", "bp_diastolic")


def chart_metrics(key: str) -> tuple[str, ...]:
    """The metrics of the chart (or vitals item) `key`."""
    return BP_METRICS if key == "bp" else (key,)


@dataclass(frozen=True)
class VitalsPanel:
    """What a patient's vitals panel shows, for the charts in `charts` (in display order)."""

    content: CarePlanContent | None
    latest: Mapping[str, Observation]
    monitored: frozenset[str]
    charts: tuple[str, ...]
    stats: Mapping[str, tuple[int, float, float]]
    recent: Mapping[str, list[Observation]]


async def vitals_panel(session: AsyncSession, who: Principal, patient_id: str, *,
                       since: datetime, rows_per_metric: int,
                       request_id: str | None = None) -> VitalsPanel:
    """The panel's data, after `authorize_patient` (which audits the read)."""
    await authorize_patient(session, who, patient_id, action="read", resource="observation",
                            reason=because("vitals_charts"), request_id=request_id)
    context = await load_patient_context(session, patient_id)
    content = context.content if context is not None else None
    latest = (await latest_values(session, [patient_id])).get(patient_id, {})
    monitored = frozenset(e.metric for e in content.monitoring) if content is not None else (
        frozenset())
    shown = monitored | set(latest)
    charts = tuple(key for key in VITAL_ORDER if shown.intersection(chart_metrics(key)))
    stats = await period_stats(session, patient_id, [m for m in METRICS if m in shown], since)
    recent = await recent_by_chart(session, patient_id, charts, since, rows_per_metric)
    return VitalsPanel(content, latest, monitored, charts, stats, recent)


async def period_stats(session: AsyncSession, patient_id: str, metrics: Sequence[str],
                       since: datetime) -> dict[str, tuple[int, float, float]]:
    """metric → (count, minimum, maximum) of its readings since `since`, in one statement."""
    if not metrics:
        return {}
    stmt = (
        select(Observation.metric, func.count(), func.min(Observation.value),
               func.max(Observation.value))
        .where(Observation.patient_id == patient_id)
        .where(col(Observation.metric).in_(metrics))
        .where(col(Observation.time) >= since)
        .group_by(col(Observation.metric))
    )
    return {m: (int(n), float(lo), float(hi)) for m, n, lo, hi in (await session.exec(stmt)).all()}


async def recent_by_chart(session: AsyncSession, patient_id: str, charts: Sequence[str],
                          since: datetime, rows_per_metric: int
                          ) -> dict[str, list[Observation]]:
    """chart → its newest readings since `since`, newest first: at most `rows_per_metric`
    times the chart's number of metrics, in one statement for every chart.

    One ``ORDER BY time DESC LIMIT`` arm per chart, joined by ``UNION ALL``: each arm reads
    its newest rows from the (patient, metric, time) index and stops, whatever the period
    holds (a window over the period's rows read all 86,400 of 30 days of a wearable)."""
    if not charts:
        return {}
    newest = (col(Observation.time).desc(), col(Observation.id).desc())
    arms = [
        select(col(Observation.id)).where(Observation.patient_id == patient_id)
        .where(col(Observation.metric).in_(chart_metrics(key)))
        .where(col(Observation.time) >= since)
        .order_by(*newest).limit(rows_per_metric * len(chart_metrics(key)))
        .subquery(f"chart_{n}")
        for n, key in enumerate(charts)
    ]
    ids = union_all(*(select(arm.c.id) for arm in arms)).subquery("recent")
    stmt = select(Observation).where(col(Observation.id).in_(select(ids.c.id))).order_by(*newest)
    chart_of = {metric: key for key in charts for metric in chart_metrics(key)}
    out: dict[str, list[Observation]] = {key: [] for key in charts}
    for obs in (await session.exec(stmt)).all():
        out[chart_of[obs.metric]].append(obs)
    return out
