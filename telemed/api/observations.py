"""/api/v1/patients/{id}/observations, /observations/series and /vitals/latest, audited."""

from __future__ import annotations

from datetime import datetime, timedelta

from aiohttp import web

from telemed.api.common import call, listing, ok, request_id, sessions
from telemed.db.types import utcnow
from telemed.domain import downsample
from telemed.domain.units import CLINICAL_METRICS
from telemed.errors import ApiError
from telemed.principal import CARE_READERS, principal, requires
from telemed.services import manual_readings as manual
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
    rows = await call(request, service.list_observations, request.match_info["patient_id"], query,
                      page, request_id(request))
    cursor = None
    if len(rows) == page.limit:
        cursor = encode_cursor([rows[-1].time.isoformat(), rows[-1].id])
    return listing([service.observation_out(o) for o in rows], cursor)


@routes.post("/api/v1/patients/{patient_id}/readings")
@requires(*CARE_READERS)
async def readings_post(request: web.Request) -> web.Response:
    """Manual readings (CONTRACT §7): a SenML pack typed in by the patient, a delegate who may
    act or a clinician; the devices' validation, rules and idempotency."""
    if request.content_type not in ("application/senml+json", "application/json"):
        raise ApiError(415, "unsupported_media_type",
                       "Send the SenML pack as application/senml+json.")
    payload = await request.read()
    result = await manual.enter(sessions(request), request.app[manual.READING_SINK],
                                principal(request), request.match_info["patient_id"], payload,
                                request_id=request_id(request))
    data = manual.result_out(result)
    if result.accepted == 0 and result.duplicates == 0 and result.rejections:
        first = result.rejections[0]
        return web.json_response({"error": {"code": first.code, "message": first.render()},
                                  **data}, status=422)
    return ok(data)


@routes.get("/api/v1/patients/{patient_id}/vitals/latest")
@requires(*CARE_READERS)
async def vitals_latest(request: web.Request) -> web.Response:
    """The latest reading of every metric of a patient."""
    data = await call(request, service.latest_vitals, request.match_info["patient_id"],
                      request_id(request))
    return ok(data)


SERIES_DEFAULT_SPAN = timedelta(hours=24)
SERIES_MAX_SPAN = timedelta(days=400)
SERIES_MAX_METRICS = 8


def _series_query(request: web.Request) -> service.SeriesQuery:
    """The series' metrics (comma-separated or repeated), period and number of points."""
    names: list[str] = []
    for raw in request.query.getall("metric", []):
        names += [m.strip() for m in raw.split(",") if m.strip()]
    # Without metric=: every clinical metric (the patient's vital signs and measurements).
    metrics = tuple(dict.fromkeys(names)) or CLINICAL_METRICS
    if len(metrics) > SERIES_MAX_METRICS:
        raise ApiError(400, "invalid_metric", f"At most {SERIES_MAX_METRICS} metrics at once.")
    for metric in metrics:
        if not service.is_known_metric(metric):
            raise ApiError(400, "invalid_metric", f"Unknown metric {metric!r}.")
    until = _time(request.query.get("until"), "until") or utcnow()
    since = _time(request.query.get("since"), "since") or until - SERIES_DEFAULT_SPAN
    if since >= until:
        raise ApiError(400, "invalid_since", "since must be before until.")
    if until - since > SERIES_MAX_SPAN:
        raise ApiError(400, "invalid_since",
                       f"The period can be at most {SERIES_MAX_SPAN.days} days.")
    raw_points = request.query.get("points") or str(downsample.DEFAULT_POINTS)
    try:
        points = int(raw_points)
    except ValueError:
        points = -1
    if not downsample.MIN_POINTS <= points <= downsample.MAX_POINTS:
        raise ApiError(400, "invalid_points", f"points must be a whole number from "
                       f"{downsample.MIN_POINTS} to {downsample.MAX_POINTS}.")
    return service.SeriesQuery(metrics, since, until, points)


@routes.get("/api/v1/patients/{patient_id}/observations/series")
@requires(*CARE_READERS)
async def observations_series(request: web.Request) -> web.Response:
    """A patient's readings downsampled for a chart: per time bucket min, max, mean, count."""
    query = _series_query(request)
    width, found = await call(request, service.series, request.match_info["patient_id"], query,
                              request_id(request))
    return ok({
        "patient_id": request.match_info["patient_id"],
        "since": query.since.isoformat(),
        "until": query.until.isoformat(),
        "bucket_seconds": width,
        "series": [service.series_out(item) for item in found],
    })
