"""On PostgreSQL (which stores no NUL and no lone surrogate), hostile text still gets a 4xx."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.conftest import World

pytestmark = pytest.mark.postgres


@pytest.fixture
def app(postgres_app: web.Application) -> web.Application:
    return postgres_app


URLS = [
    "/api/v1/alerts?patient=%00", "/api/v1/patients?q=%00", "/api/v1/visits?patient=%00",
    "/api/v1/visits?status=%00", "/api/v1/devices?patient=%00", "/api/v1/users?role=%00",
    "/api/v1/alerts/%00", "/api/v1/patients/%00", "/api/v1/careplans/%00",
    "/api/v1/visits/%00", "/api/v1/devices/%00", "/api/v1/patients/%00/observations",
    "/api/v1/patients/p%00/careplans", "/fhir/R4/Observation?code=%00",
    "/fhir/R4/Patient?identifier=%00", "/patients/%00", "/patients?q=%00", "/alerts?q=%00",
    "/api/v1/patients?%00=1",
]


async def test_nul_in_a_path_or_query_is_400_not_a_database_error(
    client: TestClient[Any, Any], world: World
) -> None:
    doctor = await world.user("doctor")
    admin = await world.user("admin")
    await world.patient(team=[doctor["id"]])
    for who in (doctor, admin):
        h = await world.token(who["username"])
        for url in URLS:
            resp = await client.get(url, headers=h)
            assert resp.status in (400, 403), (url, resp.status, await resp.text())
            if resp.status == 400 and url.startswith("/api/"):
                code = (await resp.json())["error"]["code"]
                assert code in ("invalid_path", "invalid_query"), url


async def test_hostile_text_in_bodies_on_postgres(client: TestClient[Any, Any],
                                                  world: World) -> None:
    doctor = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    h = await world.token(doctor["username"])
    url = f"/api/v1/patients/{patient.id}/careplans"
    nul = await client.post(url, headers=h, json={"title": "a\x00b", "period_start": "2026-11-01"})
    assert nul.status == 422
    raw = b'{"title": "a\\udc00", "period_start": "2026-11-01"}'
    lone = await client.post(url, headers={**h, "Content-Type": "application/json"}, data=raw)
    assert lone.status == 400
    ok = await client.post(url, headers=h, json={"title": "Piano 😀", "period_start": "2026-11-01"})
    assert ok.status == 201, await ok.text()
    patch = await client.patch(f"/api/v1/patients/{patient.id}", headers=h,
                               json={"given_name": "Ma\x00rio"})
    assert patch.status == 422


async def test_nul_in_a_form_is_400_not_a_database_error(client: TestClient[Any, Any],
                                                         world: World) -> None:
    page = await (await client.get("/login")).text()
    token = page.split('name="csrf-token" content="')[1].split('"')[0]
    resp = await client.post("/login", data={"username": "dr\x00x", "password": "x" * 12,
                                             "csrf_token": token}, allow_redirects=False)
    assert resp.status == 400, await resp.text()
    assert "text/html" in resp.content_type


async def test_text_at_its_limit_is_stored_whole_on_postgres(client: TestClient[Any, Any],
                                                             world: World) -> None:
    doctor = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    me = await world.user("patient", patient_id=patient.id)
    h = await world.token(me["username"])
    note = "n" * 1000
    resp = await client.post(f"/api/v1/patients/{patient.id}/consents", headers=h,
                             json={"granted": True, "note": note})
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["note"] == note
    outsider = await world.token((await world.user("doctor"))["username"])
    reason = "r" * 1000
    resp = await client.post(f"/api/v1/patients/{patient.id}/emergency-access",
                             headers=outsider, json={"reason": reason})
    assert resp.status == 201, await resp.text()
    # The free text is kept whole with the emergency access (the audit names only its code).
    assert (await resp.json())["reason"] == reason
