"""Wiring of the signalling WebSocket: the hub's lifetime, its reaper and the route."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from telemed import keys
from telemed.bus import redis_bus
from telemed.live_channels import VISIT_ROOMS
from telemed.signalling import ws
from telemed.signalling.cluster import CLUSTER, Cluster
from telemed.signalling.hub import HUB, Hub

REAP_INTERVAL = 1.0


async def _reaper(hub: Hub) -> None:
    """Every second, remove the peers whose resume window has passed."""
    while True:
        await asyncio.sleep(REAP_INTERVAL)
        await hub.reap()


async def _signalling_ctx(app: web.Application) -> AsyncIterator[None]:
    hub = Hub(app[keys.SESSIONS], app[keys.METRICS])
    app[HUB] = hub
    app[VISIT_ROOMS] = hub
    bus = redis_bus(app)
    if bus is not None:  # several processes: rooms are owned across them
        cluster = Cluster(hub, bus, bus.leases(), app[keys.SETTINGS])
        hub.cluster = app[CLUSTER] = cluster
        await cluster.start()
    reaper = asyncio.create_task(_reaper(hub), name="signalling-reaper")
    try:
        yield
    finally:
        reaper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reaper
        await hub.close_all()
        if CLUSTER in app:
            await app[CLUSTER].stop()


async def _close_sockets(app: web.Application) -> None:
    """On shutdown, close every signalling socket with 1001 (going away) at once."""
    hub = app.get(HUB)
    if hub is not None:
        await hub.close_all()


def setup_signalling(app: web.Application) -> None:
    """The signalling hub (after the database context) and `/ws/visits/{visit_id}`."""
    app.cleanup_ctx.append(_signalling_ctx)
    app.on_shutdown.append(_close_sockets)
    app.router.add_routes(ws.routes)
