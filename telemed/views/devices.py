"""The device page: what it is, how it is doing, and who had it when."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from telemed import keys
from telemed.principal import REQUEST_ID, ROLES, STAFF, ensure_csrf_token, principal, requires
from telemed.services import devices as service
from telemed.views.device_admin import patient_choices
from telemed.views.render import language_of, render, t
from telemed.views.times import local_time
from telemed.views.vitals.devices import device_row

routes = web.RouteTableDef()


@routes.get("/devices/{device_id}", name="device")
@requires(*ROLES)
async def device_page(request: web.Request) -> web.Response:
    await language_of(request)
    who = principal(request)
    async with request.app[keys.SESSIONS]() as session:
        page = await service.device_page(session, who, request.match_info["device_id"],
                                         request[REQUEST_ID])
    device = page.device
    current = page.patients.get(device.patient_id) if device.patient_id else None
    tz_name = current.timezone if current is not None else None
    history = []
    for interval in reversed(page.history):  # the newest first
        patient = page.patients.get(interval.patient_id) if interval.patient_id else None
        history.append({
            "patient": patient,
            "name": f"{patient.family_name} {patient.given_name}" if patient is not None
            else t(request, "Another patient"),
            "from": local_time(request, interval.start, tz_name, "d MMM y, HH:mm"),
            "from_iso": interval.start.isoformat(),
            "until": local_time(request, interval.end, tz_name, "d MMM y, HH:mm")
            if interval.end is not None else None,
            "until_iso": interval.end.isoformat() if interval.end is not None else None,
        })
    manage = who.role in STAFF and device.revoked_at is None
    if manage:
        await ensure_csrf_token(request)
    return await render(request, "device.html", {
        "device": device_row(request, device, tz_name, datetime.now(UTC)),
        "patient": current,
        "history": history,
        "revoked": device.revoked_at is not None,
        "manage": manage,
        "choices": await patient_choices(request) if manage else [],
        "current_id": device.patient_id or "",
    })
