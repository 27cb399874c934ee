"""The delivery worker against a real SMTP server: faults, retries, refusals, crashes,
several workers at once, and Apprise to a real local webhook."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from telemed import keys
from telemed.db.models import User
from telemed.notify import backoff, outbox
from telemed.notify.messages import email_message
from telemed.notify.setup import NOTIFIER
from telemed.notify.worker import Channels, DeliveryWorker
from telemed.settings import Settings
from tests.conftest import World
from tests.helpers.pages import log_in
from tests.integration.notify.clinic import Clinic, with_mail
from tests.smtp_fixture import MailCatcher, clinical_leaks

Client = TestClient[Any, Any]


@pytest.fixture
def settings(settings: Settings, smtp_server: MailCatcher) -> Settings:
    return with_mail(settings, smtp_server.url)


async def _people(world: World, *addresses: str) -> list[str]:
    ids = []
    for address in addresses:
        made = await world.user("patient", patient_id=(await world.patient()).id)
        async with world.app[keys.SESSIONS]() as session:
            user = await session.get(User, made["id"])
            assert user is not None
            user.email = address
            session.add(user)
            await session.commit()
        ids.append(made["id"])
    return ids


async def _notify(world: World, user_ids: list[str]) -> list[str]:
    async with world.app[keys.SESSIONS]() as session:
        made = await outbox.record(session, user_ids=user_ids, kind="emergency_access",
                                   params={}, link="/privacy", cause_type="emergency_access",
                                   cause_id="ea1")
        await session.commit()
        return [n.id for n in made]


def _clocked(world: World) -> tuple[DeliveryWorker, Clinic]:
    clock = Clinic(world)
    worker = world.app[NOTIFIER]
    worker.clock = lambda: clock.now
    return worker, clock


async def test_server_stopping_mid_stream_delays_and_loses_nothing(
        client: Client, world: World, smtp_server: MailCatcher) -> None:
    users = await _people(world, *(f"p{i}@home.example" for i in range(6)))
    ids = await _notify(world, users)
    worker, clock = _clocked(world)
    stopped = threading.Event()
    original = smtp_server.received

    def stop_after_two(msg: Any, rcpts: list[str]) -> None:
        original(msg, rcpts)
        if len(smtp_server.messages) == 2 and not stopped.is_set():
            stopped.set()
            threading.Thread(target=smtp_server.stop).start()  # not from the server's loop

    smtp_server.received = stop_after_two  # type: ignore[method-assign]
    await worker.run_once()
    await asyncio.to_thread(stopped.wait, 10)
    await asyncio.sleep(0.2)
    assert 2 <= len(smtp_server.messages) < 6
    pending = [d for d in await clock.deliveries() if d.status == "pending"]
    assert pending and all(d.last_error for d in pending)

    await asyncio.to_thread(smtp_server.start)  # the server comes back, same port
    clock.now += timedelta(minutes=5)
    await worker.run_once()
    await smtp_server.wait_for(6)
    counts = Counter(m["Message-ID"] for m in smtp_server.messages)
    assert counts == Counter({f"<{n}@asl.example>": 1 for n in ids})
    assert {d.status for d in await clock.deliveries()} == {"sent"}


async def test_refused_recipient_fails_at_once_busy_one_retries_then_dies(
        client: Client, world: World, smtp_server: MailCatcher) -> None:
    refused, busy = await _people(world, "refuse-x@home.example", "later-y@home.example")
    await _notify(world, [refused, busy])
    worker, clock = _clocked(world)
    await worker.run_once()
    by_address = {d.address: d for d in await clock.deliveries()}
    assert by_address["refuse-x@home.example"].status == "failed"
    assert "550" in (by_address["refuse-x@home.example"].last_error or "")
    later = by_address["later-y@home.example"]
    assert later.status == "pending" and later.attempts == 1 and "450" in (later.last_error or "")
    assert later.next_attempt_at == clock.now + backoff.retry_delay(1)

    attempts = 1
    while attempts < 100:  # retried with growing pauses for a day, then given up
        clock.now += backoff.MAX_DELAY
        await worker.run_once()
        attempts += 1
        [busy_now] = [d for d in await clock.deliveries() if d.address.startswith("later-")]
        if busy_now.status != "pending":
            break
    assert busy_now.status == "dead" and 24 <= busy_now.attempts <= 30
    assert smtp_server.messages == []

    admin = await world.user("admin")
    headers = await world.token(admin["username"])
    failed = await (await client.get("/api/v1/notifications/failed", headers=headers)).json()
    assert {(f["address"], f["status"]) for f in failed["items"]} == {
        ("refuse-x@home.example", "failed"), ("later-y@home.example", "dead")}
    assert all(f["kind"] == "emergency_access" for f in failed["items"])
    nurse = await world.user("nurse")
    assert (await client.get("/api/v1/notifications/failed",
                             headers=await world.token(nurse["username"]))).status == 403
    retry = await client.post(f"/api/v1/notifications/deliveries/{busy_now.id}/retry",
                              headers=headers)
    assert retry.status == 200
    again = await client.post(f"/api/v1/notifications/deliveries/{busy_now.id}/retry",
                              headers=headers)
    assert again.status == 409  # it is pending again
    assert (await log_in(client, admin["username"])).status == 303
    page = await (await client.get("/notifications/failed")).text()
    assert "refuse-x@home.example" in page and "data-failed-deliveries" in page


async def test_a_crash_after_the_server_accepted_resends_the_same_message_id_once(
        client: Client, world: World, smtp_server: MailCatcher) -> None:
    [user] = await _people(world, "p@home.example")
    [nid] = await _notify(world, [user])
    worker, clock = _clocked(world)
    real_record = worker._record
    crashes = 0

    async def die_before_commit(*args: Any) -> None:
        nonlocal crashes
        crashes += 1
        raise RuntimeError("the process died after the server said 250")

    worker._record = die_before_commit  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        await worker.run_once()
    assert crashes == 1 and len(smtp_server.messages) == 1
    worker._record = real_record  # type: ignore[method-assign]
    clock.now += timedelta(seconds=30)
    await worker.run_once()  # still leased to the "dead" worker: nothing
    assert len(smtp_server.messages) == 1
    clock.now += backoff.LEASE
    await worker.run_once()  # the lease ran out: sent again, as the same message
    await smtp_server.wait_for(2)
    assert [m["Message-ID"] for m in smtp_server.messages] == [f"<{nid}@asl.example>"] * 2
    [delivery] = await clock.deliveries()
    assert delivery.status == "sent" and delivery.attempts == 2
    clock.now += timedelta(days=2)
    await worker.run_once()
    assert len(smtp_server.messages) == 2  # committed as sent: never again


async def test_two_workers_deliver_each_notification_once(
        client: Client, world: World, smtp_server: MailCatcher, settings: Settings) -> None:
    users = await _people(world, *(f"w{i}@home.example" for i in range(8)))
    ids = await _notify(world, users)
    sessions = world.app[keys.SESSIONS]
    workers = [DeliveryWorker(sessions, world.app[keys.BUS], Channels.from_settings(settings))
               for _ in range(3)]
    await asyncio.gather(*(w.run_once() for w in workers))
    await asyncio.gather(*(w.run_once() for w in workers))
    await smtp_server.wait_for(8)
    await asyncio.sleep(0.2)
    assert Counter(m["Message-ID"] for m in smtp_server.messages) == Counter(
        {f"<{n}@asl.example>": 1 for n in ids})


# --- Apprise: the operators' paging ------------------------------------------------------


async def test_escalation_pages_the_operators_through_apprise_json(
        aiohttp_client: Any, world: World, settings: Settings, smtp_server: MailCatcher) -> None:
    received: list[dict[str, Any]] = []
    fail_first = {"left": 1}

    async def hook(request: web.Request) -> web.Response:
        if fail_first["left"]:
            fail_first["left"] -= 1
            return web.Response(status=503)
        received.append(await request.json())
        return web.Response(text="ok")

    hook_app = web.Application()
    hook_app.router.add_post("/hook", hook)
    server = TestServer(hook_app, host="127.0.0.1")
    await server.start_server()
    try:
        url = f"json://127.0.0.1:{server.port}/hook"
        paged = settings.model_copy(update={"notify_urls": (url,)})
        worker = DeliveryWorker(world.app[keys.SESSIONS], None, Channels.from_settings(paged))
        clinic = await Clinic(world).build()
        smtp_server.forbid(clinic.ward.patient.family_name, clinic.ward.patient.given_name)
        worker.clock = lambda: clinic.now
        await clinic.put_on_call(clinic.oncall["id"])
        await clinic.put_on_call(clinic.ward.stranger["id"])  # two on call: one page
        await clinic.critical()
        await clinic.jobs_after(16)
        assert len(await clinic.notifications(kind="alert_escalated")) == 2
        await worker.run_once()
        apprise_rows = [d for d in await clinic.deliveries() if d.channel == "apprise"]
        assert len(apprise_rows) == 1 and apprise_rows[0].status == "pending"
        assert str(server.port) in apprise_rows[0].address
        clinic.now += timedelta(minutes=1)
        await worker.run_once()
        assert len(received) == 1
        page = received[0]
        assert page["title"].startswith("Telemed: Critical alert not acknowledged (patient ")
        assert "/acknowledge" in page["message"]
        as_mail = email_message(lang="en", heading=page["title"], url="",
                                sender="a@b.c", recipient="d@e.f", message_id="<x@y>")
        as_mail.set_content(page["message"])  # the same guard as for every email
        assert clinical_leaks(as_mail, [clinic.ward.patient.family_name,
                                        clinic.ward.patient.given_name]) == []
        assert [d.status for d in await clinic.deliveries() if d.channel == "apprise"] == [
            "sent"]
    finally:
        await server.close()
