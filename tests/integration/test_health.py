from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.db.models import Alert
from tests.conftest import World


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


def _gauge(text: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", text, re.M)
    assert found, f"{name} missing"
    return float(found.group(1))


async def test_open_alerts_are_counted_at_scrape(client: TestClient[Any, Any],
                                                 world: World) -> None:
    """Any process reports the platform's open alerts, not only the one running the rules."""
    assert _gauge(await (await client.get("/metrics")).text(), "telemed_open_alerts") == 0
    patient = await world.patient()
    async with client.app[keys.SESSIONS]() as session:
        session.add_all([
            Alert(patient_id=patient.id, rule_key="threshold:spo2", kind="threshold",
                  severity="critical"),
            Alert(patient_id=patient.id, rule_key="trend:body_weight", kind="trend",
                  severity="warning", status="acknowledged"),
            Alert(patient_id=patient.id, rule_key="threshold:heart_rate", kind="threshold",
                  severity="warning", status="resolved")])
        await session.commit()
    text = await (await client.get("/metrics")).text()
    assert _gauge(text, "telemed_open_alerts") == 0  # counted at most every 10 s
    client.app[keys.METRICS].open_alerts_counted_at = float("-inf")
    text = await (await client.get("/metrics")).text()
    assert _gauge(text, "telemed_open_alerts") == 2


async def test_unknown_api_route_is_json_404(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/api/v1/nothing-here")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"
