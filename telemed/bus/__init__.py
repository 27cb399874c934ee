"""Event bus: in-process (one process) or Redis pub/sub (several), behind `EventBus`.

`TELEMED_REDIS_URL` unset: `InProcessBus`, events reach this process only. Set: `RedisBus`,
events reach every process sharing that Redis (channels prefixed by
`TELEMED_REDIS_PREFIX`). /readyz reports the bus as `bus` (Redis reachable and subscribed).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from aiohttp import web

from telemed import keys
from telemed.bus.base import (
    ACCESS,
    ALERTS,
    CAREPLANS,
    DEVICES,
    BusOverflow,
    BusUnavailable,
    Event,
    EventBus,
    Subscription,
)
from telemed.bus.memory import InProcessBus
from telemed.readiness import READINESS, add_readiness_check
from telemed.settings import Settings

if TYPE_CHECKING:  # the Redis backend needs the `redis` extra: imported only when used
    from telemed.bus.redis import RedisBus

__all__ = ["ACCESS", "ALERTS", "CAREPLANS", "DEVICES", "BusOverflow", "BusUnavailable", "Event",
           "EventBus", "InProcessBus", "RedisBus", "Subscription", "make_bus", "redis_bus",
           "setup_bus"]


def __getattr__(name: str) -> Any:
    if name == "RedisBus":
        from telemed.bus.redis import RedisBus

        return RedisBus
    raise AttributeError(name)


def make_bus(settings: Settings) -> EventBus:
    """The bus for the settings: Redis when `redis_url` is set, else in-process."""
    if settings.redis_url:
        from telemed.bus.redis import RedisBus

        return RedisBus(settings.redis_url, prefix=settings.redis_prefix)
    return InProcessBus()


def redis_bus(app: web.Application) -> RedisBus | None:
    """The application's bus when it is the Redis one."""
    if not app[keys.SETTINGS].redis_url:
        return None
    from telemed.bus.redis import RedisBus

    bus = app[keys.BUS]
    return bus if isinstance(bus, RedisBus) else None


async def _bus_ready(app: web.Application) -> bool:
    bus = redis_bus(app)
    return True if bus is None else await bus.ping()


async def _bus_ctx(app: web.Application) -> AsyncIterator[None]:
    bus = make_bus(app[keys.SETTINGS])
    app[keys.BUS] = bus
    redis = redis_bus(app)
    if redis is not None:
        await redis.start()
    if READINESS in app:
        add_readiness_check(app, "bus", _bus_ready)
    yield
    await bus.close()


def setup_bus(app: web.Application) -> None:
    """Own the event bus for the application's lifetime (before every user of it)."""
    app.cleanup_ctx.append(_bus_ctx)
