"""Wiring of the pre-call echo: the peers' lifetime and their reaper (the API route,
`telemed.api.precall`, is added by `create_app`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from telemed.precall.echo import ECHO, EchoPeers

REAP_INTERVAL = 1.0


async def _reaper(peers: EchoPeers) -> None:
    while True:
        await asyncio.sleep(REAP_INTERVAL)
        await peers.reap()


async def _precall_ctx(app: web.Application) -> AsyncIterator[None]:
    peers = EchoPeers()
    app[ECHO] = peers
    reaper = asyncio.create_task(_reaper(peers), name="precall-reaper")
    yield
    reaper.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reaper
    await peers.close_all()


def setup_precall(app: web.Application) -> None:
    """The echo peers, for `POST /api/v1/precall/offer`."""
    app.cleanup_ctx.append(_precall_ctx)
