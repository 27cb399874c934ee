"""Pytest plugin: identity. A real OpenID provider (oidc-provider run by node) and the app set
up for it; an app that requires a second factor of staff (``client_2fa``, ``world_2fa``).

Fixtures: ``oidc_provider`` (a started DevProvider with the accounts of ``CITIZENS``),
``sso_settings`` (the test settings pointing at it, on a fixed free port so the registered
redirect URI is right) and ``sso_client`` (the app served on that port). Without node or the
npm package the tests are skipped on a developer's machine and fail under CI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from telemed.app import create_app
from telemed.identity.dev_provider import Client, DevProvider, missing_reason
from telemed.settings import Settings
from tests.conftest import World, service_missing
from tests.helpers.net import free_port
from tests.helpers.sso import CITIZENS, CLIENT_ID, CLIENT_SECRET


@pytest.fixture
def sso_port() -> int:
    return free_port()


@pytest.fixture
async def oidc_provider(tmp_path: Path, sso_port: int) -> AsyncIterator[DevProvider]:
    reason = missing_reason()
    if reason is not None:
        service_missing(f"the test OpenID provider: {reason}")
    base = f"http://127.0.0.1:{sso_port}"
    provider = DevProvider(
        port=free_port(), workdir=tmp_path,
        clients=[Client(CLIENT_ID, CLIENT_SECRET, f"{base}/auth/oidc/callback", f"{base}/login"),
                 Client("another-app", "another-secret-0123456789",
                        "http://127.0.0.1:9/cb", "http://127.0.0.1:9/")],
        accounts=CITIZENS)
    await provider.start()
    try:
        yield provider
    finally:
        await provider.stop()


@pytest.fixture
def sso_settings(settings: Settings, oidc_provider: DevProvider, sso_port: int) -> Settings:
    return settings.model_copy(update={
        "public_url": f"http://127.0.0.1:{sso_port}", "oidc_issuer": oidc_provider.issuer,
        "oidc_client_id": CLIENT_ID, "oidc_client_secret": CLIENT_SECRET,
    })


@pytest.fixture
async def sso_client(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    sso_settings: Settings, sso_port: int,
) -> TestClient[Any, Any]:
    app: web.Application = create_app(sso_settings)
    return await aiohttp_client(app, server_kwargs={"port": sso_port})


@pytest.fixture
async def client_2fa(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]], settings: Settings,
) -> TestClient[Any, Any]:
    """The app under TELEMED_REQUIRE_2FA=staff."""
    return await aiohttp_client(create_app(settings.model_copy(update={"require_2fa": "staff"})))


@pytest.fixture
def world_2fa(client_2fa: TestClient[Any, Any]) -> World:
    return World(client_2fa.server.app, client_2fa)


@pytest.fixture
async def localhost_client(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]], settings: Settings,
) -> TestClient[Any, Any]:
    """The app reached as http://localhost:PORT (WebAuthn refuses IP addresses as its
    relying party id)."""
    return await _on_localhost(aiohttp_client, settings)


@pytest.fixture
async def localhost_client_2fa(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]], settings: Settings,
) -> TestClient[Any, Any]:
    """`localhost_client` under TELEMED_REQUIRE_2FA=staff."""
    return await _on_localhost(aiohttp_client, settings, require_2fa="staff")


async def _on_localhost(aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
                        settings: Settings, **update: Any) -> TestClient[Any, Any]:
    port = free_port()
    app = create_app(settings.model_copy(
        update={"public_url": f"http://localhost:{port}", **update}))
    return await aiohttp_client(app, server_kwargs={"port": port})


@pytest.fixture
async def sso_client_2fa(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    sso_settings: Settings, sso_port: int,
) -> TestClient[Any, Any]:
    """Single sign-on with TELEMED_REQUIRE_2FA=staff and OIDC_MIN_ACR=SPID level 2."""
    settings = sso_settings.model_copy(update={
        "require_2fa": "staff", "oidc_min_acr": "https://www.spid.gov.it/SpidL2"})
    return await aiohttp_client(create_app(settings), server_kwargs={"port": sso_port})
