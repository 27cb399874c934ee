"""/api/v1/devices: register (credentials shown once), list, get, reassign, revoke, rotate.

One device (GET, PATCH) carries ``assignments: [{patient_id, from, until}]``, oldest first:
who had the device when (``patient_id`` null for a patient the caller may not see).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Concatenate, ParamSpec

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.api.common import Body, body, call, listing, ok, request_id, sessions
from telemed.api.shapes import iso
from telemed.broker import BROKER
from telemed.broker.dynsec import DynSecClient
from telemed.broker.topics import DeviceTopics
from telemed.db.models import Device
from telemed.principal import ROLES, STAFF, Principal, principal, requires
from telemed.services import devices as service
from telemed.services.pagination import encode_cursor, parse_page

P = ParamSpec("P")

routes = web.RouteTableDef()


class DeviceCreate(Body):
    serial: str
    kind: str
    patient_id: str
    assigned_from: datetime | None = None  # the patient has had it since (≤ 30 days ago)


class DeviceUpdate(Body):
    patient_id: str | None  # null: the device is given to nobody


def device_out(device: Device) -> dict[str, Any]:
    """The public shape of a device (docs/devices.md, "Get credentials")."""
    return {
        "id": device.id,
        "serial": device.serial,
        "kind": device.kind,
        "patient_id": device.patient_id,
        "status": device.status,
        "last_seen": iso(device.last_seen),
        "battery": device.battery,
        "created_at": iso(device.created_at),
        "revoked_at": iso(device.revoked_at),
    }


def assignments_out(history: Sequence[service.AssignmentView]) -> list[dict[str, Any]]:
    """``[{patient_id, from, until}]`` oldest first (``until`` null: the current one)."""
    return [{"patient_id": a.patient_id, "from": iso(a.start), "until": iso(a.end)}
            for a in history]


def credentials_out(request: web.Request, registration: service.Registration) -> dict[str, Any]:
    """Device fields plus its MQTT identity, password (shown this once) and topics."""
    device = registration.device
    out = device_out(device)
    out.update({
        "device_id": device.id,
        "mqtt_username": device.id,
        "mqtt_client_id": device.id,
        "mqtt_password": registration.password,
        "topics": DeviceTopics.of(device.id).as_dict(),
    })
    handle = request.app.get(BROKER)
    if handle is not None:
        info = handle.info
        out["mqtt"] = {"host": info.host, "port": info.port, "tls": info.tls, "url": info.url}
    return out


def _dynsec(request: web.Request) -> DynSecClient | None:
    handle = request.app.get(BROKER)
    return handle.dynsec if handle is not None else None


@routes.post("/api/v1/devices")
@requires(*STAFF)
async def devices_create(request: web.Request) -> web.Response:
    data = await body(request, DeviceCreate)
    async with sessions(request)() as session:
        registration = await service.register_device(
            session, _dynsec(request), principal(request), serial=data.serial, kind=data.kind,
            patient_id=data.patient_id, assigned_from=data.assigned_from,
            request_id=request_id(request))
    return ok(credentials_out(request, registration), status=201)


@routes.get("/api/v1/devices")
@requires(*ROLES)
async def devices_list(request: web.Request) -> web.Response:
    page = parse_page(request.query, key_length=1)
    found = await call(request, service.list_devices, page, patient_id=request.query.get("patient"),
                       request_id=request_id(request))
    cursor = encode_cursor([found[-1].serial]) if len(found) == page.limit else None
    return listing([device_out(d) for d in found], cursor)


async def _with_history(
    request: web.Request,
    use_case: Callable[Concatenate[AsyncSession, Principal, P], Awaitable[Device]],
    *args: P.args, **kwargs: P.kwargs,
) -> web.Response:
    """The device `use_case` gives, with its history as the caller may see it."""
    async with sessions(request)() as session:
        device = await use_case(session, principal(request), *args, **kwargs)
        history = await service.device_history(session, principal(request), device)
    return ok({**device_out(device), "assignments": assignments_out(history)})


@routes.get("/api/v1/devices/{device_id}")
@requires(*ROLES)
async def devices_get(request: web.Request) -> web.Response:
    return await _with_history(request, service.get_device, request.match_info["device_id"],
                               request_id(request))


@routes.patch("/api/v1/devices/{device_id}")
@requires(*STAFF)
async def devices_update(request: web.Request) -> web.Response:
    data = await body(request, DeviceUpdate)
    return await _with_history(request, service.reassign_device,
                               request.match_info["device_id"], data.patient_id,
                               request_id(request))


@routes.delete("/api/v1/devices/{device_id}")
@requires(*STAFF)
async def devices_revoke(request: web.Request) -> web.Response:
    async with sessions(request)() as session:
        device = await service.revoke_device(session, _dynsec(request), principal(request),
                                             request.match_info["device_id"],
                                             request_id(request))
    return ok(device_out(device))


@routes.post("/api/v1/devices/{device_id}/credentials")
@requires(*STAFF)
async def devices_rotate(request: web.Request) -> web.Response:
    async with sessions(request)() as session:
        registration = await service.rotate_credentials(
            session, _dynsec(request), principal(request), request.match_info["device_id"],
            request_id(request))
    return ok(credentials_out(request, registration))
