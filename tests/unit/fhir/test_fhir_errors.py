"""The /fhir/ error middleware: ApiError, HTTP errors and crashes become OperationOutcome."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from telemed.api.fhir.errors import fhir_error_middleware
from telemed.errors import ApiError, unauthorized
from tests.unit.fhir.validation import validate

MakeClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


async def _boom(request: web.Request) -> web.Response:
    raise RuntimeError("database exploded")


async def _denied(request: web.Request) -> web.Response:
    raise unauthorized()


async def _plain(request: web.Request) -> web.Response:
    raise ApiError(400, "bad", "Bad.")


@pytest.fixture
async def client(aiohttp_client: MakeClient) -> TestClient[Any, Any]:
    app = web.Application(middlewares=[fhir_error_middleware])
    app.router.add_get("/fhir/R4/boom", _boom)
    app.router.add_get("/fhir/R4/denied", _denied)
    app.router.add_get("/api/v1/plain", _plain)
    return await aiohttp_client(app)


async def test_crash_is_a_500_outcome_without_details(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    resp = await client.get("/fhir/R4/boom")
    assert resp.status == 500
    assert resp.content_type == "application/fhir+json"
    body = await resp.json(content_type=None)
    validate(body)
    assert body["issue"][0]["code"] == "exception"
    assert "exploded" not in await resp.text()
    assert "database exploded" in caplog.text


async def test_api_error_keeps_status_and_headers(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/fhir/R4/denied")
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    body = await resp.json(content_type=None)
    validate(body)
    assert body["issue"][0]["details"]["coding"][0]["code"] == "unauthorized"


async def test_unknown_path_and_method(client: TestClient[Any, Any]) -> None:
    missing = await client.get("/fhir/R4/Nothing")
    assert missing.status == 404
    validate(await missing.json(content_type=None))
    method = await client.delete("/fhir/R4/boom")
    assert method.status == 405
    assert (await method.json(content_type=None))["issue"][0]["code"] == "not-supported"


async def test_other_paths_are_left_alone(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/api/v1/plain")
    assert resp.status == 500  # passed through: in the app, the global middleware renders it
    assert resp.content_type != "application/fhir+json"
