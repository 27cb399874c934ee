"""The MQTT broker: a supervised private Mosquitto or an external one, managed through
Mosquitto's dynamic-security plugin. `setup_broker(app)` wires it into the application."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from telemed import keys
from telemed.broker.errors import (
    BrokerError,
    BrokerSetupError,
    BrokerStartError,
    BrokerUnavailable,
    DynSecError,
)
from telemed.broker.info import BrokerInfo
from telemed.broker.runtime import BROKER, BrokerHandle, PrivatePolicy, open_broker
from telemed.readiness import add_readiness_check

__all__ = [
    "BROKER",
    "BrokerError",
    "BrokerHandle",
    "BrokerInfo",
    "BrokerSetupError",
    "BrokerStartError",
    "BrokerUnavailable",
    "DynSecError",
    "setup_broker",
]

log = logging.getLogger("telemed.broker")


async def broker_ctx(app: web.Application) -> AsyncIterator[None]:
    """Own the broker connection (and the private Mosquitto under `telemed serve`)."""
    settings = app[keys.SETTINGS]
    role = app.get(keys.ROLE, "serve")
    policy: PrivatePolicy = "start" if role == "serve" else "attach"
    async with open_broker(settings, private=policy) as handle:
        app[BROKER] = handle
        log.info("broker ready at %s (%s)", handle.info.url,
                 "private" if handle.info.private else "external")
        yield


async def _broker_ready(app: web.Application) -> bool:
    handle = app.get(BROKER)
    return handle is not None and handle.healthy


def setup_broker(app: web.Application) -> None:
    """Open the configured broker for the app's lifetime and report it in /readyz.

    With TELEMED_BROKER=none (the default under TELEMED_ENV=test without MQTT_URL) nothing
    is set up and `BROKER` stays absent.
    """
    if app[keys.SETTINGS].broker_mode == "none":
        return
    app.cleanup_ctx.append(broker_ctx)
    add_readiness_check(app, "broker", _broker_ready)
