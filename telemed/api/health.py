"""/healthz, /readyz and /metrics."""

from __future__ import annotations

import logging
import time

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from telemed import keys
from telemed.db.engine import ping
from telemed.principal import public
from telemed.readiness import READINESS, ReadinessCheck
from telemed.services.alerts import count_open

log = logging.getLogger("telemed.health")

routes = web.RouteTableDef()

OPEN_ALERTS_EVERY = 10.0  # seconds between two counts of the open alerts

async def _database(app: web.Application) -> bool:
    return await ping(app[keys.ENGINE])


def setup_health(app: web.Application) -> None:
    """Install the health routes and the database readiness check."""
    checks: dict[str, ReadinessCheck] = {"database": _database}
    app[READINESS] = checks
    app.router.add_routes(routes)


@routes.get("/healthz")
@public
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
@public
async def readyz(request: web.Request) -> web.Response:
    checks = {name: await check(request.app) for name, check in request.app[READINESS].items()}
    ready = all(checks.values())
    return web.json_response(
        {"status": "ready" if ready else "not_ready",
         "checks": {k: "ok" if v else "down" for k, v in checks.items()}},
        status=200 if ready else 503,
    )


@routes.get("/metrics")
@public
async def metrics(request: web.Request) -> web.Response:
    await _count_open_alerts(request.app)
    body = generate_latest(request.app[keys.METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _count_open_alerts(app: web.Application) -> None:
    """Refresh the open-alerts gauge from the database, at most every OPEN_ALERTS_EVERY s.

    Every process reports the same platform-wide figure (aggregate with `max`, not `sum`);
    with the database down the last count stays.
    """
    metrics = app[keys.METRICS]
    now = time.monotonic()
    if now - metrics.open_alerts_counted_at < OPEN_ALERTS_EVERY:
        return
    metrics.open_alerts_counted_at = now
    try:
        async with app[keys.SESSIONS]() as session:
            metrics.open_alerts.set(await count_open(session))
    except Exception as exc:  # the database is down: /readyz says so
        log.warning("could not count the open alerts: %s", exc)
