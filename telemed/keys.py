"""Every typed application key (app state goes only through these)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from telemed.db.engine import SessionFactory
    from telemed.metrics import Metrics
    from telemed.security import Throttle
    from telemed.settings import Settings

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
ENGINE: web.AppKey[AsyncEngine] = web.AppKey("engine")
SESSIONS: web.AppKey[SessionFactory] = web.AppKey("sessions")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
LOGIN_THROTTLE: web.AppKey[Throttle] = web.AppKey("login_throttle")
BACKGROUND: web.AppKey[set[Any]] = web.AppKey("background")
