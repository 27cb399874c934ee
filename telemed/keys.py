"""The typed application keys of the core: settings, role, metrics, the login and rate
guards, the database and the event bus (app state goes only through typed keys).

A subsystem owns its own keys, next to what it sets up: `telemed.broker.BROKER`,
`telemed.ingest.setup.PIPELINE`, `telemed.signalling.hub.HUB`, `telemed.precall.echo.ECHO`,
`telemed.readiness.READINESS`. This module imports no subsystem.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
    from sqlmodel.ext.asyncio.session import AsyncSession

    from telemed.bus.base import EventBus
    from telemed.metrics import Metrics
    from telemed.security import LoginGuard, RateLimiter
    from telemed.settings import Role, Settings

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
ROLE: web.AppKey[Role] = web.AppKey("role")  # "serve", "web" or "ingest"
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
LOGIN_THROTTLE: web.AppKey[LoginGuard] = web.AppKey("login_throttle")
RATE_LIMITER: web.AppKey[RateLimiter] = web.AppKey("rate_limiter")
ENGINE: web.AppKey[AsyncEngine] = web.AppKey("engine")
SESSIONS: web.AppKey[async_sessionmaker[AsyncSession]] = web.AppKey("sessions")
BUS: web.AppKey[EventBus] = web.AppKey("bus")
