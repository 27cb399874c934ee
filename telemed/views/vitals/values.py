"""Readings in words: numbers in the page's locale, units, metric names and zones."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from telemed.domain.bands import Bands, Zone, classify
from telemed.domain.units import METRICS
from telemed.i18n import decimal_text
from telemed.views.render import N_, page_language, t

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


def number(request: web.Request, metric: str, value: float) -> str:
    """A reading with the metric's usual number of decimals, in the page's locale."""
    decimals = METRICS[metric].decimals if metric in METRICS else 1
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return decimal_text(value, pattern, page_language(request))


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


def sentence(text: str) -> str:
    """``text`` with a capital first letter."""
    return text[:1].upper() + text[1:]
