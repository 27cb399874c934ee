"""Care plans (PAI): /patients/{id}/careplans and /careplans/{id}."""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web

from telemed import keys
from telemed.api.common import Body, body, call, listing, ok
from telemed.api.shapes import careplan_out
from telemed.errors import ApiError
from telemed.principal import CARE_READERS, CLINICIANS, requires
from telemed.services import careplans as service

routes = web.RouteTableDef()


class CarePlanContentIn(Body):
    goals: list[Any] | None = None
    care_team: list[Any] | None = None
    monitoring: list[Any] | None = None
    trends: list[Any] | None = None
    news2: dict[str, Any] | None = None
    silence_hours: Any = None
    escalate_after_minutes: Any = None
    questionnaires: list[Any] | None = None
    page_warnings: Any = None


class CarePlanCreate(CarePlanContentIn):
    title: str
    period_start: date
    period_end: date | None = None


class CarePlanUpdate(CarePlanContentIn):
    title: str | None = None
    period_start: date | None = None
    period_end: date | None = None


def _version(request: web.Request) -> int | None:
    raw = request.query.get("version")
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9 or int(raw) < 1:
        raise ApiError(400, "invalid_version", "version must be a positive whole number.")
    return int(raw)


@routes.get("/api/v1/patients/{patient_id}/careplans")
@requires(*CARE_READERS)
async def careplans_list(request: web.Request) -> web.Response:
    plans = await call(request, service.list_careplans, request.match_info["patient_id"])
    return listing([careplan_out(p) for p in plans], None)


@routes.post("/api/v1/patients/{patient_id}/careplans")
@requires(*CLINICIANS)
async def careplans_create(request: web.Request) -> web.Response:
    data = await body(request, CarePlanCreate)
    plan = await call(request, service.create_careplan, request.match_info["patient_id"],
                      data.model_dump(exclude_none=True))
    return ok(careplan_out(plan), status=201)


@routes.get("/api/v1/careplans/{plan_id}")
@requires(*CARE_READERS)
async def careplans_get(request: web.Request) -> web.Response:
    plan = await call(request, service.get_careplan, request.match_info["plan_id"],
                      _version(request))
    return ok(careplan_out(plan))


@routes.get("/api/v1/careplans/{plan_id}/versions")
@requires(*CARE_READERS)
async def careplans_versions(request: web.Request) -> web.Response:
    plans = await call(request, service.list_versions, request.match_info["plan_id"])
    return listing([careplan_out(p) for p in plans], None)


@routes.patch("/api/v1/careplans/{plan_id}")
@requires(*CLINICIANS)
async def careplans_update(request: web.Request) -> web.Response:
    data = await body(request, CarePlanUpdate)
    changes = data.model_dump(exclude_unset=True)
    for key in ("title", "period_start"):
        if key in changes and changes[key] is None:
            raise ApiError(422, "validation_error", "Some fields are not valid.",
                           fields={key: "This field cannot be empty."})
    plan = await call(request, service.update_careplan, request.match_info["plan_id"], changes)
    return ok(careplan_out(plan))


@routes.post("/api/v1/careplans/{plan_id}/activate")
@requires(*CLINICIANS)
async def careplans_activate(request: web.Request) -> web.Response:
    plan = await call(request, service.activate_careplan, request.match_info["plan_id"])
    return ok(careplan_out(plan))


@routes.post("/api/v1/careplans/{plan_id}/complete")
@requires(*CLINICIANS)
async def careplans_complete(request: web.Request) -> web.Response:
    plan = await call(request, service.complete_careplan, request.match_info["plan_id"],
                      timezone=request.app[keys.SETTINGS].timezone)
    return ok(careplan_out(plan))
