"""One chart of the patient page: its series, the summary in words and the table of the latest
readings (the chart itself is drawn by the script, see `web/static/vitals/`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aiohttp import web
from babel.numbers import format_decimal

from telemed.db.models import Observation
from telemed.domain.bands import Bands
from telemed.i18n import translations
from telemed.views.render import N_, page_language, page_locale, t
from telemed.views.times import local_time
from telemed.views.vitals.latest import VitalItem
from telemed.views.vitals.values import number, sentence, unit_of, value_zone, zone_label

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


def chosen_range(request: web.Request) -> str:
    key = request.query.get("vitals", DEFAULT_RANGE)
    return key if key in RANGES else DEFAULT_RANGE


def series_summary(request: web.Request, n: int) -> str:
    """The template "{n} readings, from {low} to {high} {unit}" in the right plural form."""
    return translations(page_language(request)).ngettext(
        "{n} reading, from {low} to {high} {unit}", "{n} readings, from {low} to {high} {unit}", n)


def summary(request: web.Request, chart: Chart, period: str) -> str:
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
            n=format_decimal(s.count, "#,##0", locale=page_locale(request)),
            low=number(request, s.metric, s.low),
            high=number(request, s.metric, s.high), unit=chart.unit)
        parts.append(f"{s.label}: {text}" if len(chart.series) > 1 else text)
    if not parts:
        return sentence(t(request, "{period}: no readings.", period=period))
    return sentence(t(request, "{period}: {readings}.", period=period,
                      readings="; ".join(parts)))


def fill_table(request: web.Request, chart: Chart, readings: list[Observation],
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
