"""/api/v1/alerts: the list of the caller's patients' alerts and the lifecycle actions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from aiohttp import web
from pydantic import WithJsonSchema

from telemed.api.common import Body, body, call, listing, ok, query_text, request_id, text_rule
from telemed.errors import ApiError
from telemed.principal import CLINICIANS, Role, requires
from telemed.services import alerts as service
from telemed.services.alerts import SEVERITIES, STATUSES, AlertFilter, alert_out
from telemed.services.pagination import encode_cursor, parse_page

routes = web.RouteTableDef()

READERS: tuple[Role, ...] = ("doctor", "nurse", "patient")


NoteText = Annotated[str, text_rule(service.MAX_NOTE, multiline=True),
                     WithJsonSchema({"type": "string", "maxLength": service.MAX_NOTE,
                                     "description": "Free text (newlines allowed; no control "
                                                    "or bidi-override characters)."})]


class AckIn(Body):
    note: NoteText | None = None


class ResolveIn(Body):
    note: NoteText


class SnoozeIn(Body):
    minutes: int


def _choices(raw: str | None, allowed: tuple[str, ...], name: str,
             default: tuple[str, ...]) -> tuple[str, ...]:
    if raw is None or raw == "":
        return default
    if raw == "all":
        return allowed
    values = tuple(v.strip() for v in raw.split(",") if v.strip())
    bad = [v for v in values if v not in allowed]
    if bad or not values:
        raise ApiError(400, f"invalid_{name}",
                       f"{name} must be one or more of {', '.join(allowed)} (comma-separated), "
                       "or all.")
    return values


def parse_filter(query: Mapping[str, str]) -> AlertFilter:
    return AlertFilter(
        statuses=_choices(query.get("status"), STATUSES, "status", ("open", "acknowledged")),
        severities=_choices(query.get("severity"), SEVERITIES, "severity", SEVERITIES),
        patient_id=query_text(query, "patient", max_length=64) or None,
    )


@routes.get("/api/v1/alerts")
@requires(*READERS)
async def alerts_list(request: web.Request) -> web.Response:
    """Alerts of the caller's patients, critical first, then oldest first."""
    filters = parse_filter(request.query)
    page = parse_page(request.query, key=("str", "datetime", "str"))
    rows = await call(request, service.list_alerts, filters, page, request_id(request))
    cursor = None
    if len(rows) == page.limit:
        last = rows[-1][0]
        cursor = encode_cursor([last.severity, last.opened_at.isoformat(), last.id])
    return listing([alert_out(a, p) for a, p in rows], cursor)


# `stream` is the Server-Sent Events route (telemed.api.alert_stream), not an alert id.
ALERT_ID = "{alert_id:(?!stream$)[^/]+}"


@routes.get(f"/api/v1/alerts/{ALERT_ID}")
@requires(*READERS)
async def alerts_get(request: web.Request) -> web.Response:
    """One alert of a patient the caller may see (404 unknown, 403 another's patient)."""
    alert, patient = await call(request, service.get_alert, request.match_info["alert_id"],
                                request_id(request))
    return ok(alert_out(alert, patient))


@routes.post("/api/v1/alerts/{alert_id}/ack")
@requires(*CLINICIANS)
async def alerts_ack(request: web.Request) -> web.Response:
    data = await body(request, AckIn) if request.can_read_body else AckIn()
    change = await call(request, service.acknowledge, request.match_info["alert_id"], data.note,
                        request_id(request))
    return ok(change.alert)


@routes.post("/api/v1/alerts/{alert_id}/resolve")
@requires(*CLINICIANS)
async def alerts_resolve(request: web.Request) -> web.Response:
    data = await body(request, ResolveIn)
    if not data.note.strip():
        raise ApiError(422, "validation_error", "Some fields are not valid.",
                       fields={"note": "Say how the alert was resolved."})
    change = await call(request, service.resolve, request.match_info["alert_id"], data.note,
                        request_id(request))
    return ok(change.alert)


@routes.post("/api/v1/alerts/{alert_id}/snooze")
@requires(*CLINICIANS)
async def alerts_snooze(request: web.Request) -> web.Response:
    data = await body(request, SnoozeIn)
    change = await call(request, service.snooze, request.match_info["alert_id"], data.minutes,
                        request_id(request))
    return ok(change.alert)
