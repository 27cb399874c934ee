"""The board's action forms without JavaScript: acknowledge, resolve (with a note) or snooze
an alert (``POST /alerts/{id}/ack|resolve|snooze``), then back to the board."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from telemed import keys
from telemed.errors import ApiError
from telemed.principal import CLINICIANS, REQUEST_ID, principal, requires
from telemed.services import alerts as service
from telemed.views.alerts.board import board_page
from telemed.views.alerts.filters import BoardFilter
from telemed.views.alerts.rows import SNOOZE_CHOICES
from telemed.views.forms import FormErrors, read_form
from telemed.views.render import flash, language_of, local_or, see_other, t, t_error

routes = web.RouteTableDef()

ALERT_ID = "{alert_id:[A-Za-z0-9_-]{1,64}}"


def _target(form: dict[str, str]) -> str:
    target = local_or(form.get("next"), "/alerts")
    return target if urlsplit(target).path == "/alerts" else "/alerts"


async def _act(request: web.Request, action: str) -> web.Response:
    await language_of(request)
    form = await read_form(request)
    who = principal(request)
    alert_id = request.match_info["alert_id"]
    target = _target(form)
    filters = BoardFilter.of_url(target)
    note = form.get("note", "")
    errors = FormErrors()
    minutes = 0
    if action == "resolve" and not note.strip():
        errors.add(f"note-{alert_id}", t(request, "Say how the alert was resolved."))
    if action == "snooze":
        raw = form.get("minutes", "")
        minutes = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 6 else 0
        if minutes not in dict(SNOOZE_CHOICES):
            errors.add(None, t(request, "Choose how long to snooze the alert."))
    if errors:
        return await board_page(request, filters, errors, {alert_id: note}, status=422)
    try:
        async with request.app[keys.SESSIONS]() as session:
            if action == "ack":
                await service.acknowledge(session, who, alert_id, None, request[REQUEST_ID])
            elif action == "resolve":
                await service.resolve(session, who, alert_id, note, request[REQUEST_ID])
            else:
                await service.snooze(session, who, alert_id, minutes, request[REQUEST_ID])
    except ApiError as exc:
        if exc.status not in (409, 422):
            raise
        for problem in exc.messages():  # the note's own error goes next to it
            errors.add(f"note-{alert_id}" if problem.path == "note" else None,
                       t_error(request, problem))
        return await board_page(request, filters, errors, {alert_id: note}, status=exc.status)
    if action == "ack":
        await flash(request, "Alert acknowledged.")
    elif action == "resolve":
        await flash(request, "Alert resolved.")
    else:
        await flash(request, "Alert snoozed for {minutes} minutes.", minutes=minutes)
    anchor = "" if action == "resolve" else f"#alert-{alert_id}"
    raise see_other(target + anchor)


@routes.post(f"/alerts/{ALERT_ID}/ack")
@requires(*CLINICIANS)
async def acknowledge_form(request: web.Request) -> web.Response:
    return await _act(request, "ack")


@routes.post(f"/alerts/{ALERT_ID}/resolve")
@requires(*CLINICIANS)
async def resolve_form(request: web.Request) -> web.Response:
    return await _act(request, "resolve")


@routes.post(f"/alerts/{ALERT_ID}/snooze")
@requires(*CLINICIANS)
async def snooze_form(request: web.Request) -> web.Response:
    return await _act(request, "snooze")
