"""Wiring of the pre-call echo: the peers' lifetime, their reaper and the API route."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from telemed import keys
from telemed.api import precall as precall_api
from telemed.precall.echo import EchoPeers

REAP_INTERVAL = 1.0


async def _reaper(peers: EchoPeers) -> None:
    while True:
        await asyncio.sleep(REAP_INTERVAL)
        await peers.reap()


async def _precall_ctx(app: web.Application) -> AsyncIterator[None]:
    peers = EchoPeers()
    app[keys.PRECALL] = peers
    reaper = asyncio.create_task(_reaper(peers), name="precall-reaper")
    yield
    reaper.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reaper
    await peers.close_all()


def setup_precall(app: web.Application) -> None:
    """The echo peers and `POST /api/v1/precall/offer`."""
    app.cleanup_ctx.append(_precall_ctx)
    app.router.add_routes(precall_api.routes)
