"""Publishing to the regional record: with FSE_URL, a signed document reaches a real FHIR
server (Medplum's router, started by a fixture) as a transaction; with the server down it
waits and retries with backoff; once up, each document arrives exactly once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.app import create_app
from telemed.db.models import Document
from telemed.db.types import utcnow
from telemed.documents.fhir import DOC_ID_SYSTEM, urn
from telemed.documents.publish import PUBLISHER
from telemed.services import visits as visit_service
from telemed.settings import Settings, load_settings
from tests.conftest import PASSWORD, World
from tests.helpers.node_fhir import FhirServer
from tests.integration.visit_helpers import make_visit


async def _count(base: str, kind: str, doc_id: str) -> int:
    query = {"identifier": f"{DOC_ID_SYSTEM}|{urn('Document', doc_id)}"}
    async with aiohttp.ClientSession() as http, http.get(f"{base}/{kind}", params=query) as r:
        assert r.status == 200, await r.text()
        return len((await r.json()).get("entry", []))


async def _state(app: web.Application, doc_id: str) -> Document:
    async with app[keys.SESSIONS]() as session:
        doc = await session.get(Document, doc_id)
        assert doc is not None
        return doc


async def test_down_then_up_exactly_once(
    settings: Settings, fhir_server: FhirServer,
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient[Any, Any]]],
) -> None:
    # The server's port is reserved but nothing listens yet: the record is down.
    app = create_app(load_settings(**{**settings.model_dump(), "fse_url": fhir_server.base}))
    client = await aiohttp_client(app)
    world = World(app, client)
    setup = await make_visit(world)
    async with app[keys.SESSIONS]() as session:
        await visit_service.advance(session, setup.visit_id, "in_progress")
    doctor = setup.headers[setup.doctor["username"]]
    made = await client.post(f"/api/v1/visits/{setup.visit_id}/report", headers=doctor,
                             json={"text": "Referto per il fascicolo."})
    doc_id = (await made.json())["id"]
    signed = await client.post(f"/api/v1/documents/{doc_id}/sign", headers=doctor,
                               json={"password": PASSWORD})
    assert (await signed.json())["publication"] == "pending"
    publisher = app[PUBLISHER]
    assert await publisher.run_once() == 0
    down = await _state(app, doc_id)
    assert (down.publication, down.publish_attempts) == ("pending", 1)
    assert down.publish_error and down.publish_next_at is not None
    assert down.publish_next_at - utcnow() > timedelta(seconds=20)  # backoff: 30 s
    assert await publisher.run_once() == 0  # not due yet: nothing tried
    assert (await _state(app, doc_id)).publish_attempts == 1
    await fhir_server.start()
    later = utcnow() + timedelta(minutes=1)
    assert await publisher.run_once(later) == 1
    up = await _state(app, doc_id)
    assert (up.publication, up.publish_attempts, up.publish_error) == ("sent", 2, None)
    assert await publisher.run_once(later + timedelta(hours=1)) == 0
    assert await _count(fhir_server.base, "Bundle", doc_id) == 1
    assert await _count(fhir_server.base, "DocumentReference", doc_id) == 1
    # The answer was lost (the record stored it, we did not learn): sending again stores
    # nothing twice.
    async with app[keys.SESSIONS]() as session:
        row = await session.get(Document, doc_id)
        assert row is not None
        row.publication, row.publish_next_at = "pending", utcnow()
        session.add(row)
        await session.commit()
    assert await publisher.run_once(later + timedelta(hours=2)) == 1
    assert await _count(fhir_server.base, "Bundle", doc_id) == 1
    assert await _count(fhir_server.base, "DocumentReference", doc_id) == 1
    # The state is visible per document.
    listed = await (await client.get(f"/api/v1/patients/{setup.patient_id}/documents",
                                     headers=doctor)).json()
    assert listed["items"][0]["publication"] == "sent"
