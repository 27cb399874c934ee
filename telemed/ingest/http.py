"""POST /api/v1/devices/{id}/readings: a SenML pack over HTTP, for devices without MQTT.

HTTP Basic with the device's MQTT credentials (username = device id). The pack goes through
the same pipeline as MQTT; the answer comes after the batch holding it is committed:
200 ``{"accepted", "duplicates", "rejected": [{code, message, record_index}]}``, or 422 when
nothing could be accepted (413 for a pack over the size limit).

The HTTP door of the ingest pipeline (MQTT is the other), so it lives with the pipeline it
feeds; `create_app` adds its route where the API is served.
"""

from __future__ import annotations

import base64
import binascii
import json

from aiohttp import web

from telemed import keys
from telemed.errors import ApiError
from telemed.ingest.pipeline import PIPELINE
from telemed.principal import public

routes = web.RouteTableDef()

CONTENT_TYPES = ("application/senml+json", "application/json")
_CHALLENGE = {"WWW-Authenticate": 'Basic realm="telemed-devices", charset="UTF-8"'}


def _unauthorized(message: str = "Device credentials are required.") -> ApiError:
    return ApiError(401, "unauthorized", message, headers=_CHALLENGE)


def _basic(request: web.Request) -> tuple[str, str]:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        raise _unauthorized()
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise _unauthorized("The Authorization header is malformed.") from None
    username, sep, password = decoded.partition(":")
    if not sep:
        raise _unauthorized("The Authorization header is malformed.")
    return username, password


@routes.post("/api/v1/devices/{device_id}/readings")
@public  # authenticated here with the device's own credentials, not a user's
async def readings_post(request: web.Request) -> web.Response:
    from telemed.services.devices import authenticate_device

    device_id = request.match_info["device_id"]
    username, password = _basic(request)
    if username != device_id:
        raise _unauthorized("The credentials do not belong to this device.")
    async with request.app[keys.SESSIONS]() as session:
        device = await authenticate_device(session, device_id, password)
    if device is None:
        raise _unauthorized("Unknown device or wrong password.")
    if request.content_type not in CONTENT_TYPES:
        raise ApiError(415, "unsupported_media_type",
                       "Send the SenML pack as application/senml+json.")
    payload = await request.read()
    outcome = await request.app[PIPELINE].ingest(device_id, payload)
    data = outcome.to_dict()
    if outcome.accepted == 0 and outcome.duplicates == 0 and outcome.rejections:
        first = outcome.rejections[0]
        status = 413 if first.code == "pack_too_large" else 422
        return web.json_response(
            {"error": {"code": first.code, "message": first.render()}, **data}, status=status)
    return web.json_response(data, dumps=_dumps)


def _dumps(data: object) -> str:
    return json.dumps(data, ensure_ascii=False, default=str)  # as the API's JSON
