from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient


async def test_healthz(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ok"}
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


async def test_readyz_reports_database(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/readyz")
    assert resp.status == 200
    assert (await resp.json())["checks"]["database"] == "ok"


async def test_metrics_prometheus_text(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert "telemed_open_alerts" in await resp.text()


async def test_unknown_api_route_is_json_404(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/api/v1/nothing-here")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"
