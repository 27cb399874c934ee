"""The OpenAPI description is complete and true: every route documented, schemathesis clean."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from telemed.api.openapi import OPERATIONS, api_routes
from telemed.app import create_app
from telemed.settings import Settings
from tests.conftest import World


async def test_every_route_is_documented(client: TestClient[Any, Any]) -> None:
    routes = api_routes(client.app)
    assert routes - set(OPERATIONS) == set(), "routes without an OpenAPI operation"
    assert set(OPERATIONS) - routes == set(), "documented operations without a route"
    resp = await client.get("/api/v1/openapi.json")
    assert resp.status == 200
    spec = await resp.json()
    assert spec["openapi"] == "3.1.0"
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert documented == routes


@pytest.fixture
def app(pacs_settings: Settings) -> web.Application:
    """With the image archive a site would run: without one, the imaging routes answer the
    documented 503 `pacs_unavailable`, which the server-error check counts whenever the
    fuzzer happens to name the test's patient."""
    return create_app(pacs_settings)


async def test_schemathesis_finds_no_server_error_or_schema_violation(
    client: TestClient[Any, Any], world: World, tmp_path: Path
) -> None:
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    if st is None:
        pytest.fail("schemathesis is not installed (it is in the test extra)")
    doctor = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    assert patient.id
    headers = await world.token(doctor["username"])
    base = str(client.make_url("")).rstrip("/")
    proc = await asyncio.create_subprocess_exec(
        st, "run", f"{base}/api/v1/openapi.json",
        "--checks", "not_a_server_error,status_code_conformance,"
                    "content_type_conformance,response_schema_conformance",
        "--max-examples", "5", "--phases", "examples,coverage,fuzzing",
        "--max-time", "45", "--workers", "1", "--seed", "1",
        "--exclude-path", "/api/v1/alerts/stream",
        "--exclude-path", "/api/v1/auth/logout-everywhere",
        "-H", f"Authorization: {headers['Authorization']}",
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=300)
    text = out.decode(errors="replace")
    failures = text.find("=== FAILURES ===")  # what failed and how to reproduce it
    assert proc.returncode == 0, text[failures:failures + 8000] if failures >= 0 else text[-6000:]
