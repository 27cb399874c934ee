"""Generated from the route table: every route answers anonymous and wrong-role callers
according to its declared policy, so a new route cannot slip through unguarded.

(Patient-level rules — own patient, another team's patient — are in test_access_matrix.py.)
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from telemed.app import create_app
from telemed.principal import PUBLIC, ROLES, policy_of
from telemed.settings import Settings
from tests.conftest import World, fresh_settings
from tests.helpers.routes import all_routes

# Public routes, each with the reason it is public.
PUBLIC_ROUTES = {
    ("GET", "/healthz"): "liveness probe",
    ("GET", "/readyz"): "readiness probe",
    ("GET", "/metrics"): "Prometheus scrape (no personal data)",
    ("POST", "/api/v1/auth/token"): "login",
    ("GET", "/api/v1/openapi.json"): "API description",
    ("POST", "/api/v1/devices/{device_id}/readings"): "device credentials checked by handler",
    ("GET", "/login"): "login page",
    ("POST", "/login"): "login form",
    ("POST", "/logout"): "logout form",
    ("POST", "/language"): "language switch",
    ("GET", "/auth/oidc/login"): "single sign-on: sends the browser to the identity provider",
    ("GET", "/auth/oidc/callback"): "single sign-on: state, code and ID token checked",
    ("POST", "/auth/oidc/choose"): "single sign-on: choice among the accounts offered",
    ("GET", "/login/second-factor"): "second factor: needs the pending login of this browser",
    ("POST", "/login/second-factor"): "second factor: needs the pending login of this browser",
    ("GET", "/activate"): "first password of a portal account: one-time link checked",
    ("POST", "/activate"): "first password of a portal account: one-time link checked",
    ("POST", "/api/v1/auth/activate"): "first password of a portal account: token checked",
    ("GET", "/login/second-factor/enrol"): "first enrolment: needs the pending login",
    ("POST", "/login/second-factor/key/options"): "security key: needs the pending login",
    ("POST", "/login/second-factor/key"): "security key: needs the pending login",
    ("POST", "/login/second-factor/enrol"): "first enrolment: needs the pending login",
    ("POST", "/login/second-factor/enrol/key/options"):
        "first enrolment with a security key: needs the pending login of a user without one",
    ("POST", "/login/second-factor/enrol/key"):
        "first enrolment with a security key: needs the pending login of a user without one",
    ("GET", "/"): "redirects by role",
    ("GET", "/fhir/R4/metadata"): "FHIR CapabilityStatement",
    ("GET", "/ws/visits/{visit_id}"): "WebSocket: join token checked by handler",
    ("GET", "/visits/{visit_id}/guest"): "visit guest: one-time link or guest cookie checked",
    ("GET", "/visits/{visit_id}/guest/join"): "visit guest: guest cookie checked by handler",
}


def _app(settings: Settings) -> web.Application:
    return create_app(settings)


def test_public_routes_are_exactly_the_known_ones(settings: Settings) -> None:
    app = _app(settings)
    public = {(m, p) for m, p, h in all_routes(app) if policy_of(h) == PUBLIC}
    assert public == set(PUBLIC_ROUTES), "a route became public (or stopped being public)"


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "00000000000000000000000000000000", path)


def _cases(settings: Settings) -> list[tuple[str, str, str]]:
    cases = []
    for method, path, handler in all_routes(_app(settings)):
        policy = policy_of(handler)
        if policy == PUBLIC:
            continue
        assert isinstance(policy, frozenset)
        cases.append((method, path, "anon"))
        cases.extend((method, path, role) for role in ROLES if role not in policy)
    return cases


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "route_case" in metafunc.fixturenames:
        from telemed.settings import load_settings

        settings = load_settings(env="test", secret_key="x" * 40,
                                 database_url="sqlite+aiosqlite://", data_dir=".")
        cases = _cases(settings)
        metafunc.parametrize("route_case", cases, ids=[f"{m} {p} as {r}" for m, p, r in cases])


class Callers:
    """One app for the whole module (a refused call changes nothing) and one signed-in user
    per role, made when a case first needs it."""

    def __init__(self, client: TestClient[Any, Any]) -> None:
        self.client = client
        self.world = World(client.app, client)
        self._headers: dict[str, dict[str, str]] = {"anon": {}}

    async def headers(self, role: str) -> dict[str, str]:
        if role not in self._headers:
            extra: dict[str, Any] = {}
            if role == "patient":
                extra["patient_id"] = (await self.world.patient()).id
            user = await self.world.user(role, **extra)
            self._headers[role] = await self.world.token(user["username"])
        return self._headers[role]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def callers(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Callers]:
    app = create_app(fresh_settings(tmp_path_factory.mktemp("routes"), tmp_path_factory))
    async with TestClient(TestServer(app)) as client:
        yield Callers(client)


@pytest.mark.asyncio(loop_scope="module")
async def test_route_refuses_callers_outside_its_policy(
    callers: Callers, route_case: tuple[str, str, str]
) -> None:
    method, path, role = route_case
    headers = await callers.headers(role)
    callers.client.session.cookie_jar.clear()  # only the bearer token speaks for the caller
    resp = await callers.client.request(method, _concrete(path), headers=headers, json={},
                                        allow_redirects=False)
    expected = 401 if role == "anon" else 403
    if path.startswith(("/api/", "/fhir/", "/ws/")):
        assert resp.status == expected, (method, path, role, await resp.text())
    else:
        # Pages: anonymous callers are sent to the login page; others get the 403 page.
        if role == "anon":
            assert resp.status in (302, 303) and "/login" in resp.headers["Location"]
        else:
            assert resp.status == 403
