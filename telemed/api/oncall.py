"""/api/v1/oncall: the on-call rota (admins and doctors set it; clinicians read it)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from pydantic import AwareDatetime

from telemed.api.common import Body, body, ok, sessions
from telemed.db.models import OnCallShift
from telemed.db.types import utcnow
from telemed.domain.audit_reasons import because
from telemed.errors import ApiError
from telemed.notify import oncall
from telemed.principal import principal, requires
from telemed.services import audit

routes = web.RouteTableDef()


class ShiftCreate(Body):
    user_id: str
    starts_at: AwareDatetime
    ends_at: AwareDatetime


def shift_out(shift: OnCallShift, name: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": shift.id, "user_id": shift.user_id,
                           "starts_at": shift.starts_at.isoformat(),
                           "ends_at": shift.ends_at.isoformat()}
    if name is not None:
        out["user_name"] = name
    return out


def _time(raw: str | None, name: str) -> datetime | None:
    if raw is None or raw == "":
        return None
    try:
        value = datetime.fromisoformat(raw.replace(" ", "+").replace("Z", "+00:00"))
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise ApiError(400, f"invalid_{name}", f"{name} must be an ISO 8601 time with offset.")
    return value


@routes.post("/api/v1/oncall")
@requires("admin", "doctor")
async def oncall_create(request: web.Request) -> web.Response:
    data = await body(request, ShiftCreate)
    who = principal(request)
    async with sessions(request)() as session:
        shift = await oncall.add_shift(session, user_id=data.user_id, starts_at=data.starts_at,
                                       ends_at=data.ends_at, created_by=who.user_id)
        audit.record(session, actor=who, action="create", resource="user",
                     resource_id=data.user_id, reason=because("oncall_shift", shift=shift.id))
        await session.commit()
    return ok(shift_out(shift), status=201)


@routes.get("/api/v1/oncall")
@requires("admin", "doctor", "nurse")
async def oncall_list(request: web.Request) -> web.Response:
    """``?at=ISO``: who covers escalations then; ``?from=&to=``: the shifts of a span."""
    at = _time(request.query.get("at"), "at")
    start = _time(request.query.get("from"), "from")
    end = _time(request.query.get("to"), "to")
    async with sessions(request)() as session:
        if at is not None or (start is None and end is None):
            when = at or utcnow()
            rows = await oncall.shifts_between(session, when, when + timedelta(microseconds=1))
            return ok({"at": when.isoformat(), "items": [shift_out(s, n) for s, n in rows]})
        start = start or utcnow()
        end = end or start + timedelta(days=7)
        if end <= start or end - start > timedelta(days=62):
            raise ApiError(400, "invalid_span", "to must be after from, at most 62 days.")
        rows = await oncall.shifts_between(session, start, end)
    return ok({"from": start.isoformat(), "to": end.isoformat(),
               "items": [shift_out(s, n) for s, n in rows]})
