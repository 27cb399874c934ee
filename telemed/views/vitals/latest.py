"""A patient's latest vitals, one line per metric (beside each alert on the board)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import Observation, Patient
from telemed.db.types import utcnow
from telemed.domain.careplans import CarePlanContent, effective_bands
from telemed.services.observations import latest_values
from telemed.services.vitals_panel import VITAL_ORDER, chart_metrics
from telemed.views.times import local_time, relative_time
from telemed.views.vitals.values import (
    ZONE_SEVERITY,
    metric_label,
    number,
    unit_of,
    value_zone,
    worst_zone,
    zone_label,
)


@dataclass
class VitalItem:
    """One line of a patient's latest vitals."""

    key: str
    label: str
    text: str
    unit: str
    zone: str  # normal, warning_low, ...
    zone_label: str
    severity: str | None
    time: datetime
    time_text: str
    relative: str
    metrics: tuple[str, ...] = field(default_factory=tuple)


def latest_items(request: web.Request, latest: Mapping[str, Observation],
                 content: CarePlanContent | None, tz_name: str | None,
                 now: datetime | None = None) -> list[VitalItem]:
    """The latest reading of each metric, blood pressure as systolic/diastolic."""
    now = now or utcnow()
    items: list[VitalItem] = []
    for key in VITAL_ORDER:
        metrics = chart_metrics(key)
        found = [latest[m] for m in metrics if m in latest]
        if not found:
            continue
        zone = worst_zone(value_zone(o.value, effective_bands(content, o.metric)) for o in found)
        if key == "bp":
            text = "/".join(number(request, m, latest[m].value) if m in latest else "–"
                            for m in metrics)
        else:
            text = number(request, key, found[0].value)
        when = max(o.time for o in found)
        items.append(VitalItem(
            key=key, label=metric_label(request, key), text=text,
            unit=unit_of(request, metrics[0]), zone=zone, zone_label=zone_label(request, zone),
            severity=ZONE_SEVERITY.get(zone), time=when,
            time_text=local_time(request, when, tz_name),
            relative=relative_time(request, when, now),
            metrics=metrics,
        ))
    return items


async def patient_vitals(session: AsyncSession, request: web.Request,
                         patients: Sequence[Patient],
                         contents: Mapping[str, CarePlanContent | None],
                         now: datetime | None = None) -> dict[str, list[VitalItem]]:
    """patient id → latest vitals, for patients the caller was already authorised for."""
    latest = await latest_values(session, [p.id for p in patients])
    return {
        patient.id: latest_items(request, latest.get(patient.id, {}), contents.get(patient.id),
                                 patient.timezone, now)
        for patient in patients
    }
