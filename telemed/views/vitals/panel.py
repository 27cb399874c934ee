"""The vitals panel of the patient page: one chart per monitored metric, and the devices."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from telemed import keys
from telemed.db.models import Patient
from telemed.db.types import utcnow
from telemed.domain.bands import BAND_KEYS
from telemed.domain.careplans import effective_bands
from telemed.domain.units import METRICS
from telemed.principal import REQUEST_ID, principal
from telemed.services import devices as device_service
from telemed.services import vitals_panel as panel_service
from telemed.services.pagination import Page
from telemed.services.vitals_panel import chart_metrics
from telemed.views.render import language_of, page_language, t
from telemed.views.vitals.charts import (
    CHART_STRINGS,
    PERIODS,
    RANGES,
    TABLE_ROWS,
    Chart,
    Series,
    bands_text,
    chosen_range,
    fill_table,
    series_summary,
    summary,
)
from telemed.views.vitals.devices import device_row
from telemed.views.vitals.latest import latest_items
from telemed.views.vitals.values import metric_label, unit_of


async def vitals_panel(request: web.Request, patient: Patient) -> dict[str, Any]:
    """Context for ``_vitals.html``: one chart per monitored metric, and the devices."""
    await language_of(request)
    who = principal(request)
    range_key = chosen_range(request)
    span, _ = RANGES[range_key]
    period = t(request, PERIODS[range_key])
    now = utcnow()
    since = now - span
    async with request.app[keys.SESSIONS]() as session:
        data = await panel_service.vitals_panel(session, who, patient.id, since=since,
                                                rows_per_metric=TABLE_ROWS,
                                                request_id=request[REQUEST_ID])
        await session.commit()
    content, monitored, stats = data.content, data.monitored, data.stats
    items = {i.key: i for i in latest_items(request, data.latest, content, patient.timezone, now)}
    charts: list[Chart] = []
    for key in data.charts:
        metrics = chart_metrics(key)
        series = [Series(m, t(request, "Systolic") if m == "bp_systolic" else
                         t(request, "Diastolic") if m == "bp_diastolic" else
                         metric_label(request, m), effective_bands(content, m))
                  for m in metrics]
        chart = Chart(key=key, title=metric_label(request, key),
                      unit=unit_of(request, metrics[0]), series=series,
                      monitored=bool(monitored.intersection(metrics)),
                      latest=items.get(key))
        for s in series:
            if s.metric in stats:
                s.count, s.low, s.high = stats[s.metric]
        chart.summary = summary(request, chart, period)
        chart.bands_text = [
            (f"{s.label}: " if len(series) > 1 else "") + bands_text(request, s.metric, s.bands)
            for s in series
        ]
        fill_table(request, chart, data.recent[key], patient.timezone, TABLE_ROWS)
        chart.config = json.dumps({
            "patient": patient.id, "key": key, "title": chart.title, "unit": chart.unit,
            "series": [{"metric": s.metric, "label": s.label,
                        "decimals": METRICS[s.metric].decimals,
                        "bands": {k: getattr(s.bands, k) for k in BAND_KEYS
                                  if getattr(s.bands, k) is not None}}
                       for s in series],
        }, ensure_ascii=False)
        charts.append(chart)
    async with request.app[keys.SESSIONS]() as session:
        devices = await device_service.list_devices(session, who, Page(limit=50, after=None),
                                                    patient_id=patient.id,
                                                    request_id=request[REQUEST_ID])
    return {
        "vitals_charts": charts,
        "vitals_range": range_key,
        "vitals_ranges": [(key, t(request, label)) for key, (_, label) in RANGES.items()],
        "vitals_strings": {
            "lang": page_language(request), "timezone": patient.timezone, "range": range_key,
            "site_timezone": request.app[keys.SETTINGS].timezone,
            "strings": {
                **{k: t(request, v) for k, v in CHART_STRINGS.items()},
                **{f"period_{k}": t(request, v) for k, v in PERIODS.items()},
                # "{n} reading(s), from {low} to {high} {unit}" for one and for several
                "series_summary_one": series_summary(request, 1),
                "series_summary_other": series_summary(request, 2),
            },
        },
        "devices": [device_row(request, d, patient.timezone, now) for d in devices],
    }
