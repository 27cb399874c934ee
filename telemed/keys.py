"""Every typed application key (app state goes only through these)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from telemed.broker.dynsec import DynSecClient
    from telemed.broker.info import BrokerInfo
    from telemed.broker.runtime import BrokerHandle
    from telemed.broker.supervisor import MosquittoSupervisor
    from telemed.bus import EventBus
    from telemed.db.engine import SessionFactory
    from telemed.ingest.pipeline import Pipeline
    from telemed.metrics import Metrics
    from telemed.precall.echo import EchoPeers
    from telemed.security import LoginGuard, RateLimiter
    from telemed.settings import Role, Settings
    from telemed.signalling.hub import Hub

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
ENGINE: web.AppKey[AsyncEngine] = web.AppKey("engine")
SESSIONS: web.AppKey[SessionFactory] = web.AppKey("sessions")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
LOGIN_THROTTLE: web.AppKey[LoginGuard] = web.AppKey("login_throttle")
RATE_LIMITER: web.AppKey[RateLimiter] = web.AppKey("rate_limiter")
BACKGROUND: web.AppKey[set[Any]] = web.AppKey("background")
BUS: web.AppKey[EventBus] = web.AppKey("bus")
ROLE: web.AppKey[Role] = web.AppKey("role")  # "serve", "web" or "ingest"
PIPELINE: web.AppKey[Pipeline] = web.AppKey("pipeline")
# The broker (set by telemed.broker.setup_broker; absent when TELEMED_BROKER=none).
BROKER: web.AppKey[BrokerInfo] = web.AppKey("broker")
DYNSEC: web.AppKey[DynSecClient] = web.AppKey("dynsec")
BROKER_SUPERVISOR: web.AppKey[MosquittoSupervisor | None] = web.AppKey("broker_supervisor")
BROKER_HANDLE: web.AppKey[BrokerHandle] = web.AppKey("broker_handle")
# Visits (set by telemed.signalling.setup and telemed.precall.setup).
SIGNALLING: web.AppKey[Hub] = web.AppKey("signalling")
PRECALL: web.AppKey[EchoPeers] = web.AppKey("precall")
