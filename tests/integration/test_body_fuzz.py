"""Property: no JSON body of any shape makes a POST/PATCH route of the API answer 5xx.

Hypothesis drives the real app (one server for every example, so the run stays well under
30 s): bodies are JSON documents built from the routes' own field names mixed with arbitrary
keys, values of every JSON type (booleans, huge integers, control and bidi characters, deep
nesting), and raw texts that are not JSON at all.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from telemed import keys
from telemed.app import create_app
from telemed.db.models import CareTeamMember, Consent, Patient
from telemed.domain.fiscal_code import build_fiscal_code
from telemed.services.users import create_user
from telemed.settings import Settings
from tests.conftest import PASSWORD
from tests.integration.monitoring import add_device, basic, now_s, pack

FIELDS = ["note", "minutes", "title", "period_start", "period_end", "goals", "care_team",
          "monitoring", "trends", "news2", "silence_hours", "escalate_after_minutes", "kind",
          "patient_id", "participant_ids", "scheduled_start", "duration_minutes", "text",
          "name", "granted", "grantee_id", "reason", "fiscal_code", "given_name",
          "family_name", "birth_date", "sex", "phone", "timezone", "serial", "username",
          "password", "role", "display_name", "metric", "schedule", "bands", "times",
          "tolerance_minutes", "continuous", "enabled", "spo2_scale", "on_oxygen"]
TEXTS = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", "2026-11-01", "2026-11-01T08:00:00+01:00", "08:00", "spo2",
                     "female", "televisit", "RSSMRA80A01H501U", "\x00", "\u202e", "\ud800",
                     "x" * 1100, "=cmd", "NaN", "1e999"]),
)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2**63, max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False), TEXTS,
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
BODIES = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=6).map(json.dumps),
    VALUES.map(json.dumps),
    st.integers(1, 3000).map(lambda n: "[" * n + "]" * n),
    st.text(max_size=40),
)
ROUTES = [
    ("POST", "/api/v1/patients"), ("PATCH", "/api/v1/patients/{patient}"),
    ("POST", "/api/v1/patients/{patient}/careplans"), ("PATCH", "/api/v1/careplans/{plan}"),
    ("POST", "/api/v1/alerts/{alert}/ack"), ("POST", "/api/v1/alerts/{alert}/resolve"),
    ("POST", "/api/v1/alerts/{alert}/snooze"), ("POST", "/api/v1/visits"),
    ("POST", "/api/v1/visits/{visit}/report"), ("POST", "/api/v1/visits/{visit}/guests"),
    ("POST", "/api/v1/patients/{patient}/consents"),
    ("POST", "/api/v1/patients/{patient}/emergency-access"),
    ("POST", "/api/v1/patients/{patient}/delegates"),
    ("POST", "/api/v1/devices"), ("PATCH", "/api/v1/devices/{device}"),
    ("POST", "/api/v1/users"), ("POST", "/api/v1/auth/token"),
]


class Running:
    """The real app on a test server, with a doctor's patient, plan, alert, visit, device."""

    def __init__(self, settings: Settings) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = TestClient(TestServer(create_app(settings)), loop=self.loop)
        self.ids: dict[str, str] = {}
        self.headers: dict[str, dict[str, str]] = {}

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    async def start(self) -> None:
        await self.client.start_server()
        app = self.client.app
        async with app[keys.SESSIONS]() as session:
            doctor = await create_user(session, username="fuzzdoc", password=PASSWORD,
                                       role="doctor", display_name="Fuzz Doc", patient_id=None)
            await create_user(session, username="fuzzadmin", password=PASSWORD, role="admin",
                              display_name="Fuzz Admin", patient_id=None)
            birth = date(1960, 3, 4)
            patient = Patient(fiscal_code=build_fiscal_code("Lia", "Neri", birth, "F", "Roma"),
                              given_name="Lia", family_name="Neri", birth_date=birth, sex="F")
            session.add(patient)
            await session.flush()
            session.add(CareTeamMember(patient_id=patient.id, user_id=doctor.id))
            session.add(Consent(patient_id=patient.id, granted=True, recorded_by=doctor.id))
            await session.commit()
        self.ids["patient"] = patient.id
        for role, name in (("doctor", "fuzzdoc"), ("admin", "fuzzadmin")):
            resp = await self.client.post("/api/v1/auth/token",
                                          json={"username": name, "password": PASSWORD})
            self.headers[role] = {"Authorization":
                                  f"Bearer {(await resp.json())['access_token']}"}
        doc = self.headers["doctor"]
        device = await add_device(app, patient.id)
        self.ids["device"] = device
        await self.client.post(f"/api/v1/devices/{device}/readings",
                               data=pack(("spo2", 93, "%", now_s())), headers=basic(device))
        alerts = await (await self.client.get("/api/v1/alerts", headers=doc)).json()
        self.ids["alert"] = alerts["items"][0]["id"]
        plan = await self.client.post(f"/api/v1/patients/{patient.id}/careplans", headers=doc,
                                      json={"title": "Piano", "period_start": "2026-11-01"})
        self.ids["plan"] = (await plan.json())["id"]
        start = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
        visit = await self.client.post("/api/v1/visits", headers=doc, json={
            "kind": "televisit", "patient_id": patient.id, "participant_ids": [doctor.id],
            "scheduled_start": start, "duration_minutes": 30})
        self.ids["visit"] = (await visit.json())["id"]

    async def send(self, method: str, path: str, body: str) -> tuple[int, str]:
        who = "admin" if path == "/api/v1/users" else "doctor"
        resp = await self.client.request(
            method, path.format(**self.ids), data=body.encode("utf-8", "surrogatepass"),
            headers={**self.headers[who], "Content-Type": "application/json"})
        return resp.status, await resp.text()


@pytest.fixture
def running(settings: Settings) -> Iterator[Running]:
    server = Running(settings)
    try:
        server.run(server.start())
        yield server
    finally:
        server.run(server.client.close())
        server.loop.close()


def test_no_json_body_gives_a_server_error(running: Running) -> None:
    @hypothesis_settings(max_examples=250, deadline=None, database=None,
                         suppress_health_check=[HealthCheck.too_slow])
    @given(route=st.sampled_from(ROUTES), body=BODIES)
    def check(route: tuple[str, str], body: str) -> None:
        status, text = running.run(running.send(*route, body))
        assert status < 500, (route, body[:200], text[:500])
        assert "error" in json.loads(text) or status < 300

    check()
