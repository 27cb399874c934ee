"""Event bus: in-process now, Redis later, behind the `EventBus` interface."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from telemed import keys
from telemed.bus.base import (
    ALERTS,
    CAREPLANS,
    DEVICES,
    BusOverflow,
    Event,
    EventBus,
    Subscription,
)
from telemed.bus.memory import InProcessBus

__all__ = ["ALERTS", "CAREPLANS", "DEVICES", "BusOverflow", "Event", "EventBus",
           "InProcessBus", "Subscription", "setup_bus"]


def make_bus(redis_url: str) -> EventBus:
    """The bus for the settings (the Redis backend is not built yet)."""
    if redis_url:
        raise RuntimeError("TELEMED_REDIS_URL is set but the Redis event bus is not available yet")
    return InProcessBus()


async def _bus_ctx(app: web.Application) -> AsyncIterator[None]:
    bus = make_bus(app[keys.SETTINGS].redis_url)
    app[keys.BUS] = bus
    yield
    await bus.close()


def setup_bus(app: web.Application) -> None:
    """Own the event bus for the application's lifetime (before every user of it)."""
    app.cleanup_ctx.append(_bus_ctx)
