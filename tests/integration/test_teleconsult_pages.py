"""The teleconsult pages: lists, the form, one request, the visit room's images panel."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import World
from tests.helpers.pages import log_in, post_form, text_of
from tests.helpers.teleconsults import specialist


async def test_pages_in_italian_and_english(client: TestClient[Any, Any], world: World) -> None:
    gp, cardio, other = await world.user("doctor"), await specialist(world), \
        await world.user("doctor")
    patient = await world.patient(team=[gp["id"]])
    resp = await client.post("/api/v1/teleconsults", json={
        "patient_id": patient.id, "specialist_id": cardio["id"], "urgency": "urgent",
        "question": "Soffio sistolico di nuova insorgenza", "mode": "live"},
        headers=await world.token(gp["username"]))
    consult_id = (await resp.json())["id"]
    await log_in(client, gp["username"])
    form = text_of(await (await client.get(f"/teleconsults/new?patient={patient.id}")).text())
    assert "Ask a specialist" in form and "Cardiology" in form
    listing = text_of(await (await client.get("/teleconsults")).text())
    assert "Soffio sistolico" in listing and "Urgent" in listing
    await post_form(client, "/language", {"lang": "it", "next": "/teleconsults"})
    page = await (await client.get(f"/teleconsults/{consult_id}")).text()
    assert "Teleconsulto" in text_of(page) and "Urgente" in text_of(page)
    assert 'id="viewer"' in page and "teleconsult/page.js" in page
    client.session.cookie_jar.clear()
    await log_in(client, cardio["username"])
    page = await (await client.get(f"/teleconsults/{consult_id}")).text()
    assert 'data-action="accept"' in page and 'data-action="answer"' not in page
    client.session.cookie_jar.clear()
    await log_in(client, other["username"])
    assert (await client.get(f"/teleconsults/{consult_id}")).status == 403
