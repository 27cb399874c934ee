"""A change of the digest's choices dates what waits again, in its own transaction
(docs/notifications.md, "Daily digest"): a new digest time moves the summary of what is held
already; a kind switched back to right away sends what it held at the next pass (nothing
lost), and switched back and forth before that pass it waits again; a change of anything
else leaves the dates alone. Through the API and the settings page, against a real SMTP
server, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from telemed.app import create_app
from telemed.settings import Settings
from tests.conftest import World
from tests.helpers.digest import ROUTINE, clocked, digests_of, held_of, news, person, rome
from tests.helpers.pages import csrf_of, log_in
from tests.integration.notify.clinic import postgres_mail_app, with_mail
from tests.smtp_fixture import MailCatcher, body_of

Client = TestClient[Any, Any]


@pytest.fixture
def settings(settings: Settings, smtp_server: MailCatcher) -> Settings:
    mailing: Settings = with_mail(settings, smtp_server.url)
    return mailing


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def app(settings: Settings, smtp_server: MailCatcher,
        request: pytest.FixtureRequest) -> web.Application:
    if request.param == "sqlite":
        return create_app(settings)
    return postgres_mail_app(settings, request.getfixturevalue("migrated_postgres_url"),
                             smtp_server.url)


async def _due(world: World, user_id: str) -> list[Any]:
    return sorted(n.due_at for n in await held_of(world, user_id))


async def test_a_new_digest_time_moves_the_summary_of_what_waits(
        client: Client, world: World, smtp_server: MailCatcher) -> None:
    doc = await person(client, world, "doctor", "doc@asl.example", notify_delivery=ROUTINE)
    worker, _, now = clocked(world)  # 09:00
    await news(world, doc["id"], "teleconsult_request", "c1", now[0])
    await news(world, doc["id"], "document_cosign", "c2", now[0])
    await worker.run_once()
    assert await _due(world, doc["id"]) == [rome(3, 7, 30)] * 2  # the default time

    resp = await client.patch("/api/v1/users/me", headers=doc["h"], json={"email": "d@asl.example"})
    assert resp.status == 200
    assert await _due(world, doc["id"]) == [rome(3, 7, 30)] * 2  # not a choice: unchanged
    resp = await client.patch("/api/v1/users/me", headers=doc["h"], json={"digest_time": "18:00"})
    assert resp.status == 200
    assert await _due(world, doc["id"]) == [rome(2, 18)] * 2  # today, not tomorrow morning

    now[0] = rome(2, 17, 59)
    await worker.run_once()
    assert await digests_of(world, doc["id"]) == []
    now[0] = rome(2, 18)
    await worker.run_once()
    [summary] = await smtp_server.wait_for(1)
    assert "New teleconsult requests (×1)" in body_of(summary)
    [made] = await digests_of(world, doc["id"])
    assert (made.due_at, made.items) == (rome(2, 18), 2)
    now[0] = rome(3, 7, 30)  # the old time: nothing is left for it
    assert await worker.make_digests() == 0


async def test_switching_every_kind_back_sends_what_waits_and_loses_nothing(
        client: Client, world: World, smtp_server: MailCatcher) -> None:
    doc = await person(client, world, "doctor", "doc@asl.example", notify_delivery=ROUTINE)
    worker, _, now = clocked(world)
    await news(world, doc["id"], "teleconsult_request", "c1", now[0])
    await news(world, doc["id"], "document_cosign", "c2", now[0])
    await worker.run_once()
    assert smtp_server.messages == []

    resp = await client.patch("/api/v1/users/me", headers=doc["h"], json={
        "notify_delivery": {kind: "immediate" for kind in ROUTINE}})
    assert resp.status == 200
    assert all(due <= now[0] for due in await _due(world, doc["id"]))  # due at once
    now[0] += timedelta(seconds=5)
    await worker.run_once()
    [summary] = await smtp_server.wait_for(1)
    body = body_of(summary)
    assert "/teleconsults/c1" in body and "/teleconsults/c2" in body
    assert await held_of(world, doc["id"]) == []
    await news(world, doc["id"], "teleconsult_request", "c3", now[0])
    await worker.run_once()
    [_, alone] = await smtp_server.wait_for(2)  # from now on, one email each
    assert alone["Subject"] == "Telemed: New teleconsult request (patient M. R.)"


async def test_switched_back_and_forth_before_the_pass_it_waits_again(
        client: Client, world: World, smtp_server: MailCatcher) -> None:
    nurse = await person(client, world, "nurse", "nurse@asl.example",
                         notify_delivery={"teleconsult_update": "digest"}, digest_time="18:00")
    worker, _, now = clocked(world)
    await news(world, nurse["id"], "teleconsult_update", "c1", now[0])
    await worker.run_once()
    assert await _due(world, nurse["id"]) == [rome(2, 18)]

    resp = await client.patch("/api/v1/users/me", headers=nurse["h"], json={
        "notify_delivery": {"teleconsult_update": "immediate"}})
    assert resp.status == 200
    assert await _due(world, nurse["id"]) != [rome(2, 18)]
    # ... and back to the summary on the settings page, before the worker passed
    assert (await log_in(client, nurse["username"])).status == 303
    token = await csrf_of(client, "/settings/notifications")
    resp = await client.post("/settings/notifications", allow_redirects=False, data={
        "csrf_token": token, "email": "nurse@asl.example", "notify_teleconsult_update": "on",
        "delivery_teleconsult_update": "digest", "digest_time": "18:00"})
    assert resp.status == 303
    assert await _due(world, nurse["id"]) == [rome(2, 18)]

    now[0] += timedelta(seconds=5)
    await worker.run_once()
    await asyncio.sleep(0.2)
    assert smtp_server.messages == [] and len(await held_of(world, nurse["id"])) == 1
    now[0] = rome(2, 18)
    await worker.run_once()
    [summary] = await smtp_server.wait_for(1)
    assert "/teleconsults/c1" in body_of(summary)
    assert [d.due_at for d in await digests_of(world, nurse["id"])] == [rome(2, 18)]
