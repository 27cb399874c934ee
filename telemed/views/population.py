"""The population page (``GET /population``): the caller's patients ranked by need, with
filters and counts (``services.population``), for the operations centre and the team lead."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from yarl import URL

from telemed import keys
from telemed.db.types import utcnow
from telemed.principal import CLINICIANS, REQUEST_ID, principal, requires
from telemed.services.population import NEEDS, PopulationFilter, population
from telemed.views.render import N_, language_of, render, t
from telemed.views.times import local_time, relative_time

routes = web.RouteTableDef()

NEED_WORDS = {
    "critical": N_("Critical alerts"),
    "warning": N_("Warnings"),
    "trend": N_("Worsening trends"),
    "missed": N_("Missed measurements"),
    "silent": N_("Silent devices"),
    "stale": N_("No reading for days"),
    "news2": N_("NEWS2 5 or more"),
}


@routes.get("/population", name="population")
@requires(*CLINICIANS)
async def population_page(request: web.Request) -> web.Response:
    await language_of(request)
    who = principal(request)
    filters = PopulationFilter.of(request.query)
    async with request.app[keys.SESSIONS]() as session:
        found = await population(session, who, filters, request_id=request[REQUEST_ID])
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for item in found.items:
        heard = item.last_heard
        rows.append({
            "patient_id": item.patient.id,
            "name": f"{item.patient.family_name} {item.patient.given_name}",
            "critical": item.critical, "warnings": item.warnings, "trend": item.trend,
            "missed": item.missed, "silent": item.silent,
            "news2": f"{item.news2:g}" if item.news2 is not None else "–",
            "heard_text": local_time(request, heard, item.patient.timezone) if heard else "–",
            "heard_relative": relative_time(request, heard, now) if heard else "",
            "needs": [t(request, NEED_WORDS[n]) for n in item.needs],
        })
    choices = [("", t(request, "Any need"), found.counts["any"])] + [
        (n, t(request, NEED_WORDS[n]), found.counts[n]) for n in NEEDS]
    return await render(request, "population.html", {
        "rows": rows,
        "filters": filters,
        "choices": [{"value": v, "label": label, "count": count,
                     "url": str(URL("/population").with_query(
                         {k: x for k, x in (("need", v), ("days", str(filters.days))) if x})),
                     "current": v == filters.need} for v, label, count in choices],
        "truncated": found.truncated,
    })
