"""`setup_notify(app)`: the delivery worker as a background task of `serve` and `web`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from telemed import keys
from telemed.bus import Subscription
from telemed.notify.metrics import REFRESH_SECONDS, NotifyMetrics
from telemed.notify.worker import Channels, DeliveryWorker
from telemed.tasks import cancel_and_wait

NOTIFIER: web.AppKey[DeliveryWorker] = web.AppKey("notifier")
NOTIFY_METRICS: web.AppKey[NotifyMetrics] = web.AppKey("notify_metrics")
# Open notification streams' subscriptions, closed at shutdown so their handlers end at once.
STREAMS: web.AppKey[dict[int, Subscription]] = web.AppKey("notification_streams")


async def _notify_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    metrics = app[NOTIFY_METRICS]
    worker = DeliveryWorker(app[keys.SESSIONS], app[keys.BUS], Channels.from_settings(settings),
                            on_outcome=metrics.deliveries)
    app[NOTIFIER] = worker
    tasks: list[asyncio.Task[None]] = []
    # Tests drive the worker themselves (scheduler_interval=0 means "no background passes").
    if settings.scheduler_interval > 0:
        loop = asyncio.get_running_loop()
        tasks.append(loop.create_task(worker.run(), name="notify-worker"))
        tasks.append(loop.create_task(worker.follow_alerts(), name="notify-wake"))
        tasks.append(loop.create_task(_refresh_burden(app), name="alarm-burden-metrics"))
    try:
        yield
    finally:
        await cancel_and_wait(tasks)


async def _refresh_burden(app: web.Application) -> None:
    while True:
        await app[NOTIFY_METRICS].refresh(app[keys.SESSIONS])
        await asyncio.sleep(REFRESH_SECONDS)


async def _close_streams(app: web.Application) -> None:
    for subscription in list(app[STREAMS].values()):
        await subscription.close()


def setup_notify(app: web.Application) -> None:
    """Own the delivery worker (after the database and bus contexts) and end the
    notification streams when the server shuts down."""
    app[STREAMS] = {}
    app[NOTIFY_METRICS] = NotifyMetrics(app[keys.METRICS].registry)
    app.cleanup_ctx.append(_notify_ctx)
    app.on_shutdown.append(_close_streams)
