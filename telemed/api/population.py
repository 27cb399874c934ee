"""GET /api/v1/population: the caller's patients ranked by need (``services.population``)."""

from __future__ import annotations

from aiohttp import web

from telemed.api.common import call, ok, request_id
from telemed.principal import CLINICIANS, requires
from telemed.services.population import PopulationFilter, population

routes = web.RouteTableDef()


@routes.get("/api/v1/population")
@requires(*CLINICIANS)
async def population_list(request: web.Request) -> web.Response:
    """Patients in need, most in need first (``need``: one of them; ``days``: silence that
    counts as no reading), with the count of patients of each need."""
    filters = PopulationFilter.of(request.query)
    found = await call(request, population, filters, request_id=request_id(request))
    return ok({"items": [p.out() for p in found.items], "counts": found.counts,
               "truncated": found.truncated, "need": filters.need, "days": filters.days})
