"""GET /api/v1/population: the caller's patients ranked by need (``services.population``)."""

from __future__ import annotations

from aiohttp import web

from telemed.api.common import ok, request_id, sessions
from telemed.principal import CLINICIANS, principal, requires
from telemed.services.population import PopulationFilter, population

routes = web.RouteTableDef()


@routes.get("/api/v1/population")
@requires(*CLINICIANS)
async def population_list(request: web.Request) -> web.Response:
    """Patients in need, most in need first (``need``: one of them; ``days``: silence that
    counts as no reading), with the count of patients of each need."""
    filters = PopulationFilter.of(request.query)
    async with sessions(request)() as session:
        found = await population(session, principal(request), filters,
                                 request_id=request_id(request))
    return ok({"items": [p.out() for p in found.items], "counts": found.counts,
               "truncated": found.truncated, "need": filters.need, "days": filters.days})
