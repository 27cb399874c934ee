"""/api/v1/patients/{id}/observations and /vitals/latest: stored readings, audited."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from telemed.api.common import listing, ok, request_id, sessions
from telemed.errors import ApiError
from telemed.principal import CARE_READERS, principal, requires
from telemed.services import observations as service
from telemed.services.pagination import encode_cursor, parse_page

routes = web.RouteTableDef()


def _time(raw: str | None, name: str) -> datetime | None:
    if raw is None or raw == "":
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise ApiError(400, f"invalid_{name}", f"{name} must be an ISO 8601 time with an "
                       "offset, e.g. 2026-01-31T08:00:00+01:00.") from None
    if value.tzinfo is None:
        raise ApiError(400, f"invalid_{name}", f"{name} needs a UTC offset (e.g. +01:00 or Z).")
    return value


@routes.get("/api/v1/patients/{patient_id}/observations")
@requires(*CARE_READERS)
async def observations_list(request: web.Request) -> web.Response:
    """A patient's readings in canonical units, newest first."""
    metric = request.query.get("metric") or None
    if metric is not None and not service.is_known_metric(metric):
        raise ApiError(400, "invalid_metric", f"Unknown metric {metric!r}.")
    query = service.ObservationQuery(metric, _time(request.query.get("since"), "since"),
                                     _time(request.query.get("until"), "until"))
    page = parse_page(request.query, key=("datetime", "int"))
    if page.after is not None:
        try:
            datetime.fromisoformat(str(page.after[0]))
            int(page.after[1])
        except (TypeError, ValueError):
            raise ApiError(400, "invalid_cursor", "cursor is not valid.") from None
    async with sessions(request)() as session:
        rows = await service.list_observations(session, principal(request),
                                               request.match_info["patient_id"], query, page,
                                               request_id(request))
    cursor = None
    if len(rows) == page.limit:
        cursor = encode_cursor([rows[-1].time.isoformat(), rows[-1].id])
    return listing([service.observation_out(o) for o in rows], cursor)


@routes.get("/api/v1/patients/{patient_id}/vitals/latest")
@requires(*CARE_READERS)
async def vitals_latest(request: web.Request) -> web.Response:
    """The latest reading of every metric of a patient."""
    async with sessions(request)() as session:
        data = await service.latest_vitals(session, principal(request),
                                           request.match_info["patient_id"],
                                           request_id(request))
    return ok(data)
