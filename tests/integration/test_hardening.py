"""Security headers, rate limits, session cookies."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from telemed.app import create_app
from telemed.settings import Settings


async def test_security_headers(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/healthz")
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Referrer-Policy"] == "same-origin"
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["X-Request-ID"]


async def test_static_files_are_cached_by_version(client: TestClient[Any, Any]) -> None:
    stamped = await client.get("/static/alert-board/main.js", params={"v": "1"})
    assert stamped.status == 200
    assert "immutable" in stamped.headers["Cache-Control"]
    module = await client.get("/static/alert-board/rows.js")
    assert module.status == 200
    assert module.headers["Cache-Control"] == "no-cache"


async def test_api_rate_limit_answers_429(
    aiohttp_client: Any, settings: Settings
) -> None:
    limited = create_app(settings.model_copy(update={"api_rate_per_minute": 10}))
    client: TestClient[Any, Any] = await aiohttp_client(limited)
    statuses = [(await client.get("/api/v1/users/me")).status for _ in range(10)]
    assert statuses == [401] * 10
    resp = await client.get("/api/v1/patients")
    assert resp.status == 429
    assert int(resp.headers["Retry-After"]) >= 1
    assert (await resp.json())["error"]["code"] == "rate_limited"
    # Health endpoints are never limited.
    assert (await client.get("/healthz")).status == 200


@pytest.mark.parametrize("public_url", ["https://telemed.example.org"])
async def test_https_sets_hsts(aiohttp_client: Any, settings: Settings, public_url: str) -> None:
    app: web.Application = create_app(settings.model_copy(update={"public_url": public_url}))
    client: TestClient[Any, Any] = await aiohttp_client(app)
    resp = await client.get("/healthz")
    assert "max-age=" in resp.headers["Strict-Transport-Security"]


async def test_passwords_and_tokens_never_reach_the_logs(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from tests.conftest import PASSWORD, World

    caplog.set_level(logging.DEBUG)
    world = World(client.app, client)
    admin = await world.user("admin")
    headers = await world.token(admin["username"])
    secret_password = "Segreto-Lunghissimo-42"
    await client.post("/api/v1/users", headers=headers, json={
        "username": "nurse.secret", "password": secret_password, "role": "nurse",
        "display_name": "N"})
    await client.post("/api/v1/auth/token",
                      json={"username": "nurse.secret", "password": "wrong-" + secret_password})
    await client.get("/api/v1/users/me?token=" + headers["Authorization"][7:])
    # aiohttp's own access log (used by the test server) prints query strings; `telemed serve`
    # turns it off (access_log=None) and logs requests itself, without the query string.
    text = "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records
                     if r.name != "aiohttp.access")
    assert "telemed.http" in text, "the requests were logged"
    assert secret_password not in text
    assert PASSWORD not in text
    assert headers["Authorization"][7:] not in text
