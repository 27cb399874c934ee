"""Vital signs on the pages: latest values beside an alert, charts and devices on the patient page.

Values are shown in each metric's display unit with the patient's care-plan bands (the
platform defaults when the plan has no entry), and the zone a value falls in is said in
words ("High", "Very low"), never by colour alone. Times are the patient's local times.

The charts themselves are drawn by ``web/static/vitals-chart.js`` from the downsampled series
API (``/observations/series``: per time bucket the lowest, highest and mean reading, so a
chart covers the whole period asked for); the server renders for each chart a text summary
(the period's exact count, lowest and highest reading) and a table of the latest raw readings,
so the page says everything without JavaScript and to screen readers. The panel's statements
do not depend on how many readings the period holds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web
from babel.core import Locale
from babel.dates import format_datetime, format_timedelta
from babel.numbers import format_decimal
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed import keys
from telemed.db.models import Device, Observation, Patient
from telemed.db.types import utcnow
from telemed.domain.bands import BAND_KEYS, Bands, Zone, classify
from telemed.domain.careplans import CarePlanContent, effective_bands
from telemed.domain.units import METRICS
from telemed.i18n import decimal_text, locale_of, translations
from telemed.principal import REQUEST_ID, principal
from telemed.services import devices as device_service
from telemed.services import vitals_panel as panel_service
from telemed.services.observations import latest_values
from telemed.services.pagination import Page
from telemed.services.vitals_panel import VITAL_ORDER, chart_metrics
from telemed.views.labels import msgids
from telemed.views.render import LANGUAGE, N_, language_of, t

BP_LABEL = N_("Blood pressure")
ZONE_LABELS: dict[str, str] = {
    "critical_low": N_("Very low"), "warning_low": N_("Low"),
    "warning_high": N_("High"), "critical_high": N_("Very high"),
}
ZONE_SEVERITY: dict[str, str] = {
    "critical_low": "critical", "critical_high": "critical",
    "warning_low": "warning", "warning_high": "warning",
}
ZONE_RANK = {"normal": 0, "warning_low": 1, "warning_high": 1, "critical_low": 2,
             "critical_high": 2}
DEVICE_KINDS = msgids("device_kind")  # the words are in telemed/views/labels.py
DEVICE_STATUSES = msgids("device_status")
LOW_BATTERY = 20.0
RANGES: dict[str, tuple[timedelta, str]] = {
    "24h": (timedelta(hours=24), N_("24 hours")),
    "7d": (timedelta(days=7), N_("7 days")),
    "30d": (timedelta(days=30), N_("30 days")),
}
# The period in a sentence (Italian agrees "last" with the noun: "ultime 24 ore").
PERIODS: dict[str, str] = {
    "24h": N_("in the last 24 hours"),
    "7d": N_("in the last 7 days"),
    "30d": N_("in the last 30 days"),
}
DEFAULT_RANGE = "7d"
TABLE_ROWS = 50  # readings per chart in the text table (newest first)

# Words the chart script needs, translated on the server (see `chart_strings`).
CHART_STRINGS: dict[str, str] = {
    "loading": N_("Loading readings…"),
    "failed": N_("The readings could not be loaded."),
    "empty": N_("No readings in this period."),
    "bucketed": N_("Each point sums up {span}: the band goes from the lowest to the highest "
                   "reading, the line is their average."),
    "bucket_readings": N_("{n} readings"),
    "chart_label": N_("{title}, {period}: chart of the readings. The table below lists them."),
    "summary": N_("{period}: {readings}."),
    "no_readings": N_("{period}: no readings."),
    "series_single": N_("1 reading: {value} {unit}"),
    "table_empty": N_("No readings in this period."),
    "table_latest": N_("The latest {n} readings."),
    "critical_low": N_("Very low"),
    "warning_low": N_("Low"),
    "warning_high": N_("High"),
    "critical_high": N_("Very high"),
}


# --- formatting ----------------------------------------------------------------------


def _lang(request: web.Request) -> str:
    return request.get(LANGUAGE) or request.app[keys.SETTINGS].language


def _locale(request: web.Request) -> Locale:
    return locale_of(_lang(request))


def zone_of(tz_name: str | None) -> ZoneInfo:
    """A patient's time zone (Europe/Rome when unknown or invalid)."""
    try:
        return ZoneInfo(tz_name or "Europe/Rome")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Europe/Rome")


def local_time(request: web.Request, value: datetime, tz_name: str | None,
               pattern: str = "d MMM, HH:mm") -> str:
    """``value`` in the patient's time zone; the zone is named when it is not the site's."""
    text = format_datetime(value, pattern, tzinfo=zone_of(tz_name), locale=_locale(request))
    site = request.app[keys.SETTINGS].timezone
    if tz_name and tz_name != site:
        text = f"{text} ({tz_name})"
    return text


def relative_time(request: web.Request, value: datetime, now: datetime | None = None) -> str:
    """"3 minutes ago" (the board's script keeps it current with the same rounding)."""
    delta = value - (now or utcnow())
    if abs(delta.total_seconds()) < 60:
        return t(request, "just now")
    return format_timedelta(delta, add_direction=True, threshold=1, locale=_locale(request))


def number(request: web.Request, metric: str, value: float) -> str:
    """A reading with the metric's usual number of decimals, in the page's locale."""
    decimals = METRICS[metric].decimals if metric in METRICS else 1
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return decimal_text(value, pattern, _lang(request))


def unit_of(request: web.Request, metric: str) -> str:
    return t(request, METRICS[metric].display_unit) if metric in METRICS else ""


def metric_label(request: web.Request, metric: str) -> str:
    if metric == "bp":
        return t(request, BP_LABEL)
    return t(request, METRICS[metric].display_name) if metric in METRICS else metric


def zone_label(request: web.Request, zone: str | None) -> str:
    return t(request, ZONE_LABELS[zone]) if zone in ZONE_LABELS else ""


def value_zone(value: float, bands: Bands) -> Zone:
    return classify(value, bands)


def worst_zone(zones: Iterable[Zone]) -> Zone:
    found: Zone = "normal"
    for zone in zones:
        if ZONE_RANK[zone] > ZONE_RANK[found]:
            found = zone
    return found


# --- the latest vitals (beside each alert) -------------------------------------------


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


# --- the patient page: charts and devices --------------------------------------------


def bands_text(request: web.Request, metric: str, bands: Bands) -> str:
    """The limits in words: "Warning below 94 or above 100 %; critical below 92 %"."""
    unit = unit_of(request, metric)

    def side(low: float | None, high: float | None) -> str:
        if low is not None and high is not None:
            return t(request, "below {low} or above {high}", low=number(request, metric, low),
                     high=number(request, metric, high))
        if low is not None:
            return t(request, "below {low}", low=number(request, metric, low))
        if high is not None:
            return t(request, "above {high}", high=number(request, metric, high))
        return ""

    parts = []
    warning = side(bands.warning_low, bands.warning_high)
    critical = side(bands.critical_low, bands.critical_high)
    if warning:
        parts.append(t(request, "warning {limits} {unit}", limits=warning, unit=unit))
    if critical:
        parts.append(t(request, "critical {limits} {unit}", limits=critical, unit=unit))
    if not parts:
        return t(request, "No alert limits.")
    text = "; ".join(parts)
    return sentence(text) + "."


@dataclass
class Series:
    metric: str
    label: str
    bands: Bands
    count: int = 0
    low: float | None = None
    high: float | None = None


@dataclass
class Chart:
    """One chart of the patient page (blood pressure: two series)."""

    key: str
    title: str
    unit: str
    series: list[Series]
    monitored: bool
    latest: VitalItem | None
    summary: str = ""
    bands_text: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[str, list[str]]] = field(default_factory=list)
    truncated: bool = False
    config: str = ""

    @property
    def has_bands(self) -> bool:
        return any(not s.bands.is_empty for s in self.series)


def _range_key(request: web.Request) -> str:
    key = request.query.get("vitals", DEFAULT_RANGE)
    return key if key in RANGES else DEFAULT_RANGE


def series_summary(request: web.Request, n: int) -> str:
    """The template "{n} readings, from {low} to {high} {unit}" in the right plural form."""
    return translations(_lang(request)).ngettext(
        "{n} reading, from {low} to {high} {unit}", "{n} readings, from {low} to {high} {unit}", n)


def sentence(text: str) -> str:
    """``text`` with a capital first letter."""
    return text[:1].upper() + text[1:]


def _summary(request: web.Request, chart: Chart, period: str) -> str:
    parts = []
    for s in chart.series:
        if s.count == 0 or s.low is None or s.high is None:
            continue
        if s.count == 1:
            text = t(request, "1 reading: {value} {unit}", value=number(request, s.metric, s.low),
                     unit=chart.unit)
            parts.append(f"{s.label}: {text}" if len(chart.series) > 1 else text)
            continue
        text = series_summary(request, s.count).format(
            n=format_decimal(s.count, "#,##0", locale=_locale(request)),
            low=number(request, s.metric, s.low),
            high=number(request, s.metric, s.high), unit=chart.unit)
        parts.append(f"{s.label}: {text}" if len(chart.series) > 1 else text)
    if not parts:
        return sentence(t(request, "{period}: no readings.", period=period))
    return sentence(t(request, "{period}: {readings}.", period=period,
                      readings="; ".join(parts)))


def _table(request: web.Request, chart: Chart, readings: list[Observation],
           tz_name: str | None, limit: int) -> None:
    by_time: dict[datetime, dict[str, float]] = {}
    for obs in readings:
        by_time.setdefault(obs.time, {})[obs.metric] = obs.value
    times = sorted(by_time, reverse=True)
    chart.truncated = len(times) > limit or len(readings) >= limit * len(chart.series)
    chart.columns = [s.label for s in chart.series]
    for when in times[:limit]:
        values = by_time[when]
        cells = []
        for s in chart.series:
            if s.metric not in values:
                cells.append("–")
                continue
            zone = value_zone(values[s.metric], s.bands)
            cell = number(request, s.metric, values[s.metric])
            if zone != "normal":
                cell = f"{cell} ({zone_label(request, zone)})"
            cells.append(cell)
        chart.rows.append((local_time(request, when, tz_name), cells))


async def vitals_panel(request: web.Request, patient: Patient) -> dict[str, Any]:
    """Context for ``_vitals.html``: one chart per monitored metric, and the devices."""
    await language_of(request)
    who = principal(request)
    range_key = _range_key(request)
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
        chart.summary = _summary(request, chart, period)
        chart.bands_text = [
            (f"{s.label}: " if len(series) > 1 else "") + bands_text(request, s.metric, s.bands)
            for s in series
        ]
        _table(request, chart, data.recent[key], patient.timezone, TABLE_ROWS)
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
            "lang": _lang(request), "timezone": patient.timezone, "range": range_key,
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


def device_row(request: web.Request, device: Device, tz_name: str | None,
               now: datetime) -> dict[str, Any]:
    battery = device.battery
    return {
        "id": device.id,
        "serial": device.serial,
        "kind": t(request, DEVICE_KINDS[device.kind]) if device.kind in DEVICE_KINDS
        else device.kind,
        "status": device.status,
        "status_label": t(request, DEVICE_STATUSES.get(device.status, device.status)),
        "last_seen": local_time(request, device.last_seen, tz_name) if device.last_seen
        else None,
        "last_seen_iso": device.last_seen.isoformat() if device.last_seen else None,
        "last_seen_relative": relative_time(request, device.last_seen, now)
        if device.last_seen else None,
        "battery": format_decimal(battery, "#,##0", locale=_locale(request))
        if battery is not None else None,
        "battery_low": battery is not None and battery < LOW_BATTERY,
    }
