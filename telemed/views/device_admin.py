"""Devices for staff (docs/devices.md, "The devices page"): the list, registering a device
for a patient, its credentials shown once with a QR code and a printable instruction sheet,
new credentials, revocation and reassignment. Plain forms: no JavaScript needed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import segno
from aiohttp import web

from telemed import keys
from telemed.broker import BROKER
from telemed.broker.dynsec import DynSecClient
from telemed.broker.topics import DeviceTopics
from telemed.errors import ApiError
from telemed.principal import REQUEST_ID, STAFF, ensure_csrf_token, principal, requires
from telemed.services import devices as service
from telemed.services import patients as patient_service
from telemed.services.pagination import Page
from telemed.views.forms import Form, FormErrors, api_errors, form_context, read_form, simple_field
from telemed.views.render import N_, flash, language_of, render, see_other, t
from telemed.views.vitals.devices import DEVICE_KINDS, device_row

routes = web.RouteTableDef()

DEVICE_ID = "{device_id:[A-Za-z0-9]{1,32}}"
FIELDS = {"serial": N_("Serial number"), "kind": N_("Kind of device"),
          "patient_id": N_("Patient")}
LISTED = 200


def _dynsec(request: web.Request) -> DynSecClient | None:
    handle = request.app.get(BROKER)
    return handle.dynsec if handle is not None else None


async def patient_choices(request: web.Request) -> list[tuple[str, str]]:
    """(id, "Family Given") of the patients the caller may see, for the forms."""
    async with request.app[keys.SESSIONS]() as session:
        found = await patient_service.choices(session, principal(request), limit=500)
    return [(p.id, f"{p.family_name} {p.given_name}") for p in found]


async def _list_page(request: web.Request, form: Form, errors: FormErrors,
                     status: int = 200) -> web.Response:
    await ensure_csrf_token(request)
    who = principal(request)
    async with request.app[keys.SESSIONS]() as session:
        devices = await service.list_devices(session, who, Page(LISTED, None),
                                             request_id=request[REQUEST_ID])
    patients = await patient_choices(request)
    names = dict(patients)
    now = datetime.now(UTC)
    return await render(request, "devices.html", {
        "devices": [{**device_row(request, d, None, now),
                     "patient": names.get(d.patient_id or "", ""),
                     "revoked": d.revoked_at is not None} for d in devices],
        "full": len(devices) == LISTED,
        "patients": patients,
        "kinds": [(k, t(request, v)) for k, v in DEVICE_KINDS.items()],
        **form_context(request, form, errors, FIELDS),
    }, status=status)


@routes.get("/devices", name="devices")
@requires(*STAFF)
async def devices_page(request: web.Request) -> web.Response:
    await language_of(request)
    return await _list_page(request, {"patient_id": request.query.get("patient", "")[:32],
                                      "kind": "pulse_oximeter"}, FormErrors())


def _sheet(request: web.Request, registration: service.Registration,
           patient: str) -> dict[str, Any]:
    """What the credentials page and its printed sheet show."""
    device = registration.device
    topics = DeviceTopics.of(device.id).as_dict()
    handle = request.app.get(BROKER)
    host, port, tls = ("HOST", 1883, False) if handle is None else (
        handle.info.host, handle.info.port, handle.info.tls)
    scheme = "mqtts" if tls else "mqtt"
    url = f"{scheme}://{device.id}:{registration.password}@{host}:{port}"
    tls_flag = " --capath /etc/ssl/certs" if tls else ""
    example = (f"mosquitto_pub -h {host} -p {port}{tls_flag} -q 1 -i {device.id} "
               f"-u {device.id} -P '{registration.password}' -t {topics['readings']} "
               f"-m \"[{{\\\"bn\\\":\\\"urn:dev:telemed:{device.id}:\\\",\\\"bt\\\":$(date +%s),"
               f"\\\"n\\\":\\\"spo2\\\",\\\"u\\\":\\\"%\\\",\\\"v\\\":97}}]\"")
    return {
        "device": device_row(request, device, None, datetime.now(UTC)),
        "device_id": device.id,
        "password": registration.password,
        "patient": patient,
        "host": host, "port": port, "tls": tls,
        "topics": topics,
        "example": example,
        "qr": segno.make(url, error="m").svg_data_uri(scale=5, border=2),
    }


async def _credentials(request: web.Request, registration: service.Registration,
                       fresh: bool) -> web.Response:
    names = dict(await patient_choices(request))
    response = await render(request, "device_credentials.html", {
        **_sheet(request, registration, names.get(registration.device.patient_id or "", "")),
        "fresh": fresh,
    })
    response.headers["Cache-Control"] = "no-store"  # the password is shown this once
    return response


@routes.post("/devices")
@requires(*STAFF)
async def register(request: web.Request) -> web.Response:
    await language_of(request)
    form = await read_form(request)
    try:
        async with request.app[keys.SESSIONS]() as session:
            registration = await service.register_device(
                session, _dynsec(request), principal(request), serial=form.get("serial", ""),
                kind=form.get("kind", ""), patient_id=form.get("patient_id", ""),
                request_id=request[REQUEST_ID])
    except ApiError as exc:
        if exc.status not in (409, 422):
            raise
        errors = api_errors(request, exc, simple_field(FIELDS))
        return await _list_page(request, form, errors, status=exc.status)
    return await _credentials(request, registration, fresh=True)


@routes.post(f"/devices/{DEVICE_ID}/credentials")
@requires(*STAFF)
async def rotate(request: web.Request) -> web.Response:
    await language_of(request)
    async with request.app[keys.SESSIONS]() as session:
        registration = await service.rotate_credentials(
            session, _dynsec(request), principal(request), request.match_info["device_id"],
            request_id=request[REQUEST_ID])
    return await _credentials(request, registration, fresh=False)


@routes.post(f"/devices/{DEVICE_ID}/revoke")
@requires(*STAFF)
async def revoke(request: web.Request) -> web.Response:
    await language_of(request)
    device_id = request.match_info["device_id"]
    async with request.app[keys.SESSIONS]() as session:
        await service.revoke_device(session, _dynsec(request), principal(request), device_id,
                                    request_id=request[REQUEST_ID])
    await flash(request, "Device revoked: it can no longer send readings.")
    raise see_other(f"/devices/{device_id}")


@routes.post(f"/devices/{DEVICE_ID}/assignment")
@requires(*STAFF)
async def reassign(request: web.Request) -> web.Response:
    await language_of(request)
    device_id = request.match_info["device_id"]
    form = await read_form(request)
    async with request.app[keys.SESSIONS]() as session:
        await service.reassign_device(session, principal(request), device_id,
                                      form.get("patient_id") or None,
                                      request_id=request[REQUEST_ID])
    await flash(request, "Device given to another patient.")
    raise see_other(f"/devices/{device_id}")
