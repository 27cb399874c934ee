"""The alert stream replays every open alert (page after page) and audits what it shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from telemed import keys
from telemed.api import alert_stream
from telemed.db.models import Alert, AuditEvent, Patient
from tests.conftest import World
from tests.integration.sse import next_event

STREAM = "/api/v1/alerts/stream"
OPEN = 8


async def _ward(world: World) -> tuple[dict[str, str], list[Patient], list[Alert]]:
    """A doctor with OPEN patients with an open alert each, one with a resolved alert only,
    and one without alerts."""
    doctor = await world.user("doctor")
    patients = [await world.patient(team=[doctor["id"]]) for _ in range(OPEN + 2)]
    now = datetime.now(UTC)
    alerts = []
    async with world.app[keys.SESSIONS]() as session:
        for n, patient in enumerate(patients[:OPEN + 1]):
            alert = Alert(patient_id=patient.id, rule_key="threshold:spo2", kind="threshold",
                          metric="spo2", severity="warning",
                          status="resolved" if n == OPEN else "open", value=93, detail="-",
                          opened_at=now - timedelta(minutes=n), seq=n + 1)
            session.add(alert)
            alerts.append(alert)
        await session.commit()
    return doctor, patients, alerts[:OPEN]


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alert_stream, "REPLAY_FIRST_PAGE", 2)  # then pages of 3
    monkeypatch.setattr(alert_stream, "REPLAY_PAGE", 3)


async def test_every_open_alert_is_replayed_page_after_page(world: World) -> None:
    doctor, patients, alerts = await _ward(world)
    resp = await world.client.get(STREAM, headers=await world.token(doctor["username"]))
    assert resp.status == 200
    seen = [(await next_event(resp)).data for _ in range(OPEN)]
    assert [e["id"] for e in seen] == [a.id for a in alerts]  # in sequence order, all of them
    assert all(e["change"] == "replay" for e in seen)
    resp.close()
    async with world.app[keys.SESSIONS]() as session:
        audited = (await session.exec(
            select(AuditEvent.patient_id).where(AuditEvent.actor_id == doctor["id"])
            .where(AuditEvent.reason_code == "alert_stream"))).all()
    # one row per patient shown, none for the patients the stream showed nothing of
    assert sorted(audited) == sorted(p.id for p in patients[:OPEN])


async def test_a_resumed_stream_pages_through_every_change(world: World) -> None:
    doctor, patients, alerts = await _ward(world)
    headers = {**await world.token(doctor["username"]), "Last-Event-ID": "2"}
    resp = await world.client.get(STREAM, headers=headers)
    seen = [(await next_event(resp)).data for _ in range(OPEN - 1)]
    # every change after seq 2: the open alerts 3..8 and the resolved one (seq 9)
    assert [e["seq"] for e in seen] == list(range(3, OPEN + 2))
    resp.close()
    del patients, alerts


async def test_an_administrator_gets_no_stream(world: World) -> None:
    admin = await world.user("admin")
    resp = await world.client.get(STREAM, headers=await world.token(admin["username"]))
    assert resp.status == 403
    async with world.app[keys.SESSIONS]() as session:
        rows = (await session.exec(select(AuditEvent).where(
            col(AuditEvent.reason_code) == "alert_stream"))).all()
    assert rows == []


