"""The signed visit report (a document) appears on the patient's own page and on the
clinician's view of the patient, with its paragraphs; a draft does not reach the patient."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.db.models import Visit
from tests.conftest import PASSWORD, World
from tests.helpers.pages import log_in


async def test_signed_report_shows_on_my_record(
    client: TestClient[Any, Any], world: World
) -> None:
    doctor = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    me = await world.user("patient", patient_id=patient.id)
    headers = await world.token(doctor["username"])
    start = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    resp = await client.post("/api/v1/visits", headers=headers, json={
        "kind": "televisit", "patient_id": patient.id, "participant_ids": [doctor["id"]],
        "scheduled_start": start, "duration_minutes": 20})
    assert resp.status == 201, await resp.text()
    visit = await resp.json()
    async with client.app[keys.SESSIONS]() as session:  # the call took place
        row = await session.get(Visit, visit["id"])
        assert row is not None
        row.status, row.started_at = "in_progress", datetime.now(UTC)
        session.add(row)
        await session.commit()
    text = "Pressione ben controllata; proseguire la terapia in corso."
    signed = await client.post(f"/api/v1/visits/{visit['id']}/report", headers=headers,
                               json={"text": text})
    assert signed.status == 201, await signed.text()
    doc = await signed.json()
    await log_in(client, me["username"])
    assert f"/documents/{doc['id']}" not in await (await client.get("/my-record")).text()
    sealed = await client.post(f"/api/v1/documents/{doc['id']}/sign", headers=headers,
                               json={"password": PASSWORD})
    assert sealed.status == 200, await sealed.text()
    html = await (await client.get("/my-record")).text()
    assert f"/documents/{doc['id']}" in html and 'id="documents"' in html
    assert f"/api/v1/documents/{doc['id']}/pdf" in html
    page = await (await client.get(f"/documents/{doc['id']}")).text()
    assert text in page
    await log_in(client, doctor["username"])
    clinician = await (await client.get(f"/patients/{patient.id}")).text()
    assert f"/documents/{doc['id']}" in clinician
