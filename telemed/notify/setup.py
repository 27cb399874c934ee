"""`setup_notify(app)`: the delivery worker as a background task of `serve` and `web`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from telemed import keys
from telemed.notify.worker import Channels, DeliveryWorker
from telemed.tasks import cancel_and_wait

NOTIFIER: web.AppKey[DeliveryWorker] = web.AppKey("notifier")


async def _notify_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    worker = DeliveryWorker(app[keys.SESSIONS], app[keys.BUS], Channels.from_settings(settings))
    app[NOTIFIER] = worker
    tasks: list[asyncio.Task[None]] = []
    # Tests drive the worker themselves (scheduler_interval=0 means "no background passes").
    if settings.scheduler_interval > 0:
        loop = asyncio.get_running_loop()
        tasks.append(loop.create_task(worker.run(), name="notify-worker"))
        tasks.append(loop.create_task(worker.follow_alerts(), name="notify-wake"))
    try:
        yield
    finally:
        await cancel_and_wait(tasks)


def setup_notify(app: web.Application) -> None:
    """Own the delivery worker (after the database and bus contexts)."""
    app.cleanup_ctx.append(_notify_ctx)
