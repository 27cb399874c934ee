"""Helpers for visit tests: people, a scheduled visit, join tokens and signalling peers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.db.models import Visit
from telemed.signalling import messages as m
from telemed.signalling.client import SignallingClient
from tests.conftest import World

ORIGIN = "http://127.0.0.1:8080"  # the test settings' PUBLIC_URL


@dataclass
class VisitSetup:
    """A visit with its doctor(s), its patient user and their bearer headers."""

    visit_id: str
    patient_id: str
    doctors: list[dict[str, str]]
    patient_user: dict[str, str]
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def doctor(self) -> dict[str, str]:
        return self.doctors[0]


def soon(minutes: float = 5) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


async def make_visit(world: World, *, kind: str = "televisit", clinicians: int = 1,
                     start_minutes: float = 5, duration: int = 30) -> VisitSetup:
    doctors = [await world.user("doctor") for _ in range(clinicians)]
    patient = await world.patient(team=[d["id"] for d in doctors])
    patient_user = await world.user("patient", patient_id=patient.id)
    setup = VisitSetup("", patient.id, doctors, patient_user)
    for person in (*doctors, patient_user):
        setup.headers[person["username"]] = await world.token(person["username"])
    resp = await world.client.post("/api/v1/visits", headers=setup.headers[doctors[0]["username"]],
                                   json={"kind": kind, "patient_id": patient.id,
                                         "participant_ids": [d["id"] for d in doctors],
                                         "scheduled_start": soon(start_minutes),
                                         "duration_minutes": duration})
    assert resp.status == 201, await resp.text()
    setup.visit_id = (await resp.json())["id"]
    return setup


async def join_info(client: TestClient[Any, Any], setup: VisitSetup,
                    person: dict[str, str]) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/visits/{setup.visit_id}/join",
                            headers=setup.headers[person["username"]])
    assert resp.status == 200, await resp.text()
    info: dict[str, Any] = await resp.json()
    return info


async def connect(client: TestClient[Any, Any], setup: VisitSetup, person: dict[str, str], *,
                  origin: str = ORIGIN, token: str | None = None,
                  visit_id: str | None = None) -> SignallingClient:
    """A signalling client of `person` connected through the real test server."""
    if token is None:
        token = (await join_info(client, setup, person))["token"]
    url = str(client.make_url(f"/ws/visits/{visit_id or setup.visit_id}"))
    return await SignallingClient(client.session, url, token, origin=origin).connect()


async def joined(client: TestClient[Any, Any], setup: VisitSetup, person: dict[str, str],
                 join: m.Join | None = None) -> tuple[SignallingClient, m.Welcome]:
    """`person` connected and joined (`join` message, default a plain Join): its welcome."""
    peer = await connect(client, setup, person)
    await peer.send(join or m.Join())
    return peer, await peer.expect(m.Welcome)


async def close_code(peer: SignallingClient, within: float = 5.0) -> int:
    """Read until the server closes the socket; its close code."""
    async with asyncio.timeout(within):
        while True:
            frame = await peer.ws.receive()
            if frame.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                              aiohttp.WSMsgType.CLOSING):
                return int(peer.ws.close_code or 0)


async def visit_row(world: World, visit_id: str) -> Visit:
    async with world.app[keys.SESSIONS]() as session:
        visit = await session.get(Visit, visit_id)
        assert visit is not None
        return visit


async def status_becomes(world: World, visit_id: str, status: str, within: float = 3.0) -> Visit:
    """The visit once it reached `status` (the signalling layer stores phases after relaying)."""
    import asyncio

    async with asyncio.timeout(within):
        while True:
            visit = await visit_row(world, visit_id)
            if visit.status == status:
                return visit
            await asyncio.sleep(0.02)
