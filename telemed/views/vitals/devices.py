"""A device's row on the pages (the patient page, the devices pages)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from babel.numbers import format_decimal

from telemed.db.models import Device
from telemed.views.labels import msgids
from telemed.views.render import page_locale, t
from telemed.views.times import local_time, relative_time

DEVICE_KINDS = msgids("device_kind")  # the words are in telemed/views/labels.py
DEVICE_STATUSES = msgids("device_status")
LOW_BATTERY = 20.0


def device_row(request: web.Request, device: Device, tz_name: str | None,
               now: datetime) -> dict[str, Any]:
    battery = device.battery
    return {
        "id": device.id,
        "serial": device.serial,
        "kind": t(request, DEVICE_KINDS[device.kind]) if device.kind in DEVICE_KINDS
        else device.kind,
        "status": device.status,
        "status_label": t(request, DEVICE_STATUSES.get(device.status, device.status)),
        "last_seen": local_time(request, device.last_seen, tz_name) if device.last_seen
        else None,
        "last_seen_iso": device.last_seen.isoformat() if device.last_seen else None,
        "last_seen_relative": relative_time(request, device.last_seen, now)
        if device.last_seen else None,
        "battery": format_decimal(battery, "#,##0", locale=page_locale(request))
        if battery is not None else None,
        "battery_low": battery is not None and battery < LOW_BATTERY,
    }
