"""The daily digest against a real SMTP server (docs/notifications.md, "Daily digest"): a
routine kind chosen for the digest sends no email at once but shows in the bell; one summary
arrives at the person's time with the items grouped by kind; mandatory kinds still go at once;
two workers send it once; switching back sends what waits; the choices are the owner's only
and an invalid one changes nothing."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.db.models import NotificationDigest
from telemed.notify import backoff
from telemed.settings import Settings
from tests.conftest import World
from tests.helpers.digest import ROUTINE, clocked, digests_of, held_of, news, person, rome
from tests.helpers.pages import csrf_of, log_in
from tests.helpers.teleconsults import specialist
from tests.integration.notify.clinic import with_mail
from tests.smtp_fixture import MailCatcher, body_of

Client = TestClient[Any, Any]


@pytest.fixture
def settings(settings: Settings, smtp_server: MailCatcher) -> Settings:
    mailing: Settings = with_mail(settings, smtp_server.url)
    return mailing


async def _bell(client: Client, who: dict[str, Any]) -> list[str]:
    data = await (await client.get("/api/v1/notifications", headers=who["h"])).json()
    return [n["kind"] for n in data["items"]]


async def test_routine_kinds_wait_for_one_summary_at_the_chosen_time(
        client: Client, world: World, smtp_server: MailCatcher) -> None:
    doc = await person(client, world, "doctor", "doc@asl.example",
                       notify_delivery=ROUTINE, digest_time="07:30")
    me = await (await client.get("/api/v1/users/me", headers=doc["h"])).json()
    assert me["digest_time"] == "07:30" and me["notify"]["teleconsult_request"] is True
    assert me["notify_delivery"]["teleconsult_request"] == "digest"
    assert me["notify_delivery"]["teleconsult_update"] == "immediate"
    smtp_server.forbid("Rossi", "Mario")
    first, second, now = clocked(world)

    await news(world, doc["id"], "teleconsult_request", "c1", now[0])
    await news(world, doc["id"], "teleconsult_request", "c2", now[0], initials="A. B.")
    read = await news(world, doc["id"], "teleconsult_request", "c3", now[0])
    await news(world, doc["id"], "document_cosign", "c4", now[0])
    await news(world, doc["id"], "teleconsult_urgent", "c5", now[0])  # never waits
    await news(world, doc["id"], "teleconsult_update", "c6", now[0])  # chosen right away
    await first.run_once()
    await smtp_server.wait_for(2)
    await asyncio.sleep(0.2)
    assert sorted(m["Subject"] for m in smtp_server.messages) == [
        "Telemed: URGENT teleconsult request (patient M. R.)",
        "Telemed: Your teleconsult request was accepted (patient M. R.)"]
    # The bell shows every one of them at once.
    assert Counter(await _bell(client, doc)) == Counter({
        "teleconsult_request": 3, "document_cosign": 1, "teleconsult_urgent": 1,
        "teleconsult_update": 1})
    assert len(await held_of(world, doc["id"])) == 4
    resp = await client.post(f"/api/v1/notifications/{read}/read", headers=doc["h"])
    assert resp.status == 200  # read in the app: not listed in the summary

    now[0] = rome(3, 7, 29)
    await first.run_once()
    assert len(smtp_server.messages) == 2 and await digests_of(world, doc["id"]) == []

    now[0] = rome(3, 7, 30)  # due: two workers at once send it once
    await asyncio.gather(first.run_once(), second.run_once())
    await first.run_once()
    await second.run_once()
    await smtp_server.wait_for(3)
    await asyncio.sleep(0.3)
    [summary] = smtp_server.messages[2:]
    assert summary["Subject"] == "Telemed: Your daily summary"
    assert summary["To"] == "doc@asl.example" and summary["Content-Language"] == "en"
    body = body_of(summary)
    site = world.app[keys.SETTINGS].effective_public_url
    assert "New teleconsult requests (×2)" in body
    assert "Reports awaiting your co-signature (×1)" in body
    assert "New teleconsult request (patient A. B.)" in body
    assert f"{site}/teleconsults/c1" in body
    assert f"{site}/teleconsults/c2" in body
    assert "/teleconsults/c3" not in body  # read in the app already
    assert "URGENT" not in body and "accepted" not in body
    assert f"{site}/settings/notifications" in body
    [made] = await digests_of(world, doc["id"])
    assert (made.status, made.items, made.due_at) == ("sent", 3, rome(3, 7, 30))
    assert summary["Message-ID"] == made.message_id
    assert await held_of(world, doc["id"]) == []

    # Nothing pending: no summary the next day.
    now[0] = rome(4, 8)
    await first.run_once()
    await asyncio.sleep(0.2)
    assert len(smtp_server.messages) == 3 and len(await digests_of(world, doc["id"])) == 1


async def test_a_summary_whose_items_were_all_read_is_not_sent(
        client: Client, world: World, smtp_server: MailCatcher) -> None:
    doc = await person(client, world, "doctor", "doc@asl.example", notify_delivery=ROUTINE)
    first, _, now = clocked(world)
    read = await news(world, doc["id"], "document_cosign", "c1", now[0])
    await first.run_once()
    await client.post(f"/api/v1/notifications/{read}/read", headers=doc["h"])
    now[0] = rome(3, 7, 30)  # the default time
    await first.run_once()
    await asyncio.sleep(0.2)
    assert smtp_server.messages == []
    [made] = await digests_of(world, doc["id"])
    assert (made.status, made.items) == ("skipped", 0)


async def test_switching_back_to_right_away_sends_what_waits_at_the_next_pass(
        client: Client, world: World, smtp_server: MailCatcher) -> None:
    nurse = await person(client, world, "nurse", "nurse@asl.example", language="it",
                         notify_delivery={"teleconsult_update": "digest",
                                          "document_cosign": "digest"}, digest_time="18:00")
    first, _, now = clocked(world)
    for cause in ("c1", "c2"):
        await news(world, nurse["id"], "teleconsult_update", cause, now[0])
    await news(world, nurse["id"], "document_cosign", "c3", now[0])
    await first.run_once()
    assert smtp_server.messages == []

    resp = await client.patch("/api/v1/users/me", headers=nurse["h"],
                              json={"notify_delivery": {"teleconsult_update": "immediate"}})
    assert resp.status == 200
    now[0] += timedelta(seconds=5)
    await first.run_once()
    [early] = await smtp_server.wait_for(1)
    body = body_of(early)
    assert early["Subject"] == "Telemed: Il tuo riepilogo giornaliero"
    assert "Novità sulle richieste di teleconsulto (×2)" in body
    assert "/teleconsults/c3" not in body  # still waits for 18:00
    await news(world, nurse["id"], "teleconsult_update", "c4", now[0])
    await first.run_once()
    await smtp_server.wait_for(2)  # from now on, right away
    assert smtp_server.messages[1]["Subject"].startswith("Telemed: La tua richiesta")

    now[0] = rome(2, 18)
    await first.run_once()
    await smtp_server.wait_for(3)
    assert "Referti in attesa della tua controfirma (×1)" in body_of(smtp_server.messages[2])
    assert [d.status for d in await digests_of(world, nurse["id"])] == ["sent", "sent"]


async def test_invalid_choices_change_nothing(client: Client, world: World) -> None:
    doc = await person(client, world, "doctor", "doc@asl.example")
    for bad, fields in (
            ({"notify_delivery": {"teleconsult_urgent": "digest"}},
             {"notify_delivery.teleconsult_urgent"}),
            ({"notify_delivery": {"alert_escalated": "digest", "visit_reminder": "digest"}},
             {"notify_delivery.alert_escalated", "notify_delivery.visit_reminder"}),
            ({"notify_delivery": {"no_such_kind": "digest"}}, {"notify_delivery.no_such_kind"}),
            ({"notify_delivery": {"document_cosign": "weekly"}},
             {"notify_delivery.document_cosign"}),
            ({"digest_time": "25:00"}, {"digest_time"}),
            ({"digest_time": "7.30"}, {"digest_time"})):
        resp = await client.patch("/api/v1/users/me", headers=doc["h"], json={
            "email": "changed@asl.example", "notify": {"teleconsult_request": False},
            "notify_delivery": {"document_cosign": "digest"}, **bad})
        assert resp.status == 422, bad
        error = (await resp.json())["error"]
        assert error["code"] == "validation_error" and set(error["fields"]) == fields
    me = await (await client.get("/api/v1/users/me", headers=doc["h"])).json()
    assert me["email"] == "doc@asl.example" and me["digest_time"] == "07:30"
    assert me["notify"]["teleconsult_request"] is True
    assert set(me["notify_delivery"].values()) == {"immediate"}
    # The booleans still work alone, as before.
    resp = await client.patch("/api/v1/users/me", headers=doc["h"],
                              json={"notify": {"teleconsult_request": False}})
    assert resp.status == 200 and (await resp.json())["notify"]["teleconsult_request"] is False


async def test_nobody_changes_another_persons_choices(client: Client, world: World) -> None:
    victim = await person(client, world, "doctor", "victim@asl.example")
    other = await person(client, world, "doctor", "other@asl.example")
    admin = await world.user("admin")
    change = {"notify_delivery": {"teleconsult_request": "digest"}, "digest_time": "03:00"}
    resp = await client.patch(f"/api/v1/users/{victim['id']}", headers=other["h"], json=change)
    assert resp.status == 403
    resp = await client.patch(f"/api/v1/users/{victim['id']}",
                              headers=await world.token(admin["username"]), json=change)
    assert resp.status == 422  # an administrator changes activation only
    resp = await client.patch("/api/v1/users/me", headers=other["h"],
                              json={**change, "user_id": victim["id"]})
    assert resp.status == 422  # no way to name someone else
    # The page changes the signed-in person only, whatever the form says.
    assert (await log_in(client, other["username"])).status == 303
    token = await csrf_of(client, "/settings/notifications")
    resp = await client.post("/settings/notifications", allow_redirects=False, data={
        "csrf_token": token, "email": "other@asl.example", "user_id": victim["id"],
        "delivery_teleconsult_request": "digest", "digest_time": "03:00"})
    assert resp.status == 303
    mine = await (await client.get("/api/v1/users/me", headers=other["h"])).json()
    assert mine["digest_time"] == "03:00"
    theirs = await (await client.get("/api/v1/users/me", headers=victim["h"])).json()
    assert theirs["digest_time"] == "07:30"
    assert set(theirs["notify_delivery"].values()) == {"immediate"}


async def test_the_settings_page_offers_the_choice_and_refuses_a_mandatory_kind(
        client: Client, world: World) -> None:
    doc = await person(client, world, "doctor", "doc@asl.example")
    assert (await log_in(client, doc["username"])).status == 303
    page = await (await client.get("/settings/notifications")).text()
    assert 'name="delivery_teleconsult_request"' in page and 'name="digest_time"' in page
    assert 'name="delivery_teleconsult_urgent"' not in page  # always right away
    token = await csrf_of(client, "/settings/notifications")
    resp = await client.post("/settings/notifications", allow_redirects=False, data={
        "csrf_token": token, "email": "new@asl.example", "notify_teleconsult_request": "on",
        "delivery_teleconsult_urgent": "digest", "digest_time": "07:30"})
    assert resp.status == 422
    assert "cannot wait for the daily summary" in await resp.text()
    resp = await client.post("/settings/notifications", allow_redirects=False, data={
        "csrf_token": token, "email": "doc@asl.example", "notify_teleconsult_request": "on",
        "delivery_teleconsult_request": "digest", "digest_time": "9:00"})
    assert resp.status == 422
    me = await (await client.get("/api/v1/users/me", headers=doc["h"])).json()
    assert me["email"] == "doc@asl.example"
    assert set(me["notify_delivery"].values()) == {"immediate"}
    resp = await client.post("/settings/notifications", allow_redirects=False, data={
        "csrf_token": token, "email": "doc@asl.example", "notify_teleconsult_request": "on",
        "delivery_teleconsult_request": "digest", "digest_time": "18:15"})
    assert resp.status == 303
    me = await (await client.get("/api/v1/users/me", headers=doc["h"])).json()
    assert me["notify_delivery"]["teleconsult_request"] == "digest"
    assert me["digest_time"] == "18:15"
    page = await (await client.get("/settings/notifications")).text()
    assert 'value="18:15"' in page


async def test_a_refused_summary_is_shown_to_administrators_and_can_be_retried(
        client: Client, world: World, smtp_server: MailCatcher) -> None:
    doc = await person(client, world, "doctor", "refuse-doc@asl.example",
                       notify_delivery=ROUTINE)
    first, _, now = clocked(world)
    await news(world, doc["id"], "document_cosign", "c1", now[0])
    await first.run_once()
    now[0] = rome(3, 7, 30)
    await first.run_once()
    [made] = await digests_of(world, doc["id"])
    assert made.status == "failed" and "550" in (made.last_error or "")
    admin = await world.user("admin")
    headers = await world.token(admin["username"])
    failed = (await (await client.get("/api/v1/notifications/failed",
                                      headers=headers)).json())["items"]
    assert [(f["id"], f["kind"], f["address"], f["status"]) for f in failed] == [
        (made.id, "digest", "refuse-doc@asl.example", "failed")]
    assert (await client.get("/api/v1/notifications/failed",
                             headers=doc["h"])).status == 403
    retry = await client.post(f"/api/v1/notifications/deliveries/{made.id}/retry",
                              headers=headers)
    assert retry.status == 200
    [again] = await digests_of(world, doc["id"])
    assert again.status == "pending"
    assert smtp_server.messages == []


async def test_a_worker_that_dies_midway_leaves_the_summary_to_the_next_one(
        client: Client, world: World, smtp_server: MailCatcher) -> None:
    doc = await person(client, world, "doctor", "doc@asl.example", notify_delivery=ROUTINE)
    first, second, now = clocked(world)
    await news(world, doc["id"], "teleconsult_request", "c1", now[0])
    await first.run_once()
    now[0] = rome(3, 7, 30)
    assert await first.make_digests() == 1  # made, then the process dies before sending
    async with world.app[keys.SESSIONS]() as session:  # ... or after leasing its email
        assert await first._claim(session, now[0], NotificationDigest) != []
    await second.run_once()  # restarted: the lease still holds, nothing is made again
    await asyncio.sleep(0.2)
    assert smtp_server.messages == [] and len(await digests_of(world, doc["id"])) == 1
    now[0] += backoff.LEASE
    await second.run_once()
    await second.run_once()
    [summary] = await smtp_server.wait_for(1)
    await asyncio.sleep(0.2)
    assert len(smtp_server.messages) == 1 and "(×1)" in body_of(summary)
    [made] = await digests_of(world, doc["id"])
    assert (made.status, made.attempts) == ("sent", 2)


async def test_real_teleconsult_requests_routine_waits_urgent_goes(
        client: Client, world: World, smtp_server: MailCatcher) -> None:
    gp = await person(client, world, "doctor", "gp@asl.example")
    cardio = await specialist(world)
    headers = await world.token(cardio["username"])
    resp = await client.patch("/api/v1/users/me", headers=headers, json={
        "email": "cardio@asl.example", "notify_delivery": {"teleconsult_request": "digest"},
        "digest_time": "12:00"})
    assert resp.status == 200
    patient = await world.patient(team=[gp["id"]])
    smtp_server.forbid(patient.given_name, patient.family_name, "dispnea")
    first, _, now = clocked(world)  # 09:00
    ids = {}
    for urgency in ("routine", "urgent"):
        made = await client.post("/api/v1/teleconsults", headers=gp["h"], json={
            "patient_id": patient.id, "question": "Dispnea da sforzo?", "mode": "async",
            "specialist_id": cardio["id"], "urgency": urgency})
        assert made.status == 201, await made.text()
        ids[urgency] = (await made.json())["id"]
    await first.run_once()
    [urgent] = await smtp_server.wait_for(1)
    assert urgent["Subject"].startswith("Telemed: URGENT teleconsult request")
    bell = await (await client.get("/api/v1/notifications", headers=headers)).json()
    assert sorted(n["kind"] for n in bell["items"]) == ["teleconsult_request",
                                                        "teleconsult_urgent"]
    now[0] = rome(2, 12)
    await first.run_once()
    messages = await smtp_server.wait_for(2)
    assert len(messages) == 2 and messages[1]["Subject"] == "Telemed: Your daily summary"
    assert f"/teleconsults/{ids['routine']}" in body_of(messages[1])
    assert f"/teleconsults/{ids['urgent']}" not in body_of(messages[1])
    # back to the default time
    resp = await client.patch("/api/v1/users/me", headers=headers, json={"digest_time": None})
    assert (await resp.json())["digest_time"] == "07:30"


async def test_a_notification_held_for_a_summary_already_made_goes_in_the_next_pass(
        client: Client, world: World, smtp_server: MailCatcher) -> None:
    """A worker holds a notification for the 07:30 summary and commits just after another
    worker made that summary: the next pass makes it a summary of its own (the first one's
    key, user and due instant, is taken), it is never left waiting."""
    doc = await person(client, world, "doctor", "doc@asl.example", notify_delivery=ROUTINE)
    first, second, now = clocked(world)
    await news(world, doc["id"], "teleconsult_request", "c1", now[0])
    await first.run_once()
    now[0] = rome(3, 7, 30)
    assert await first.make_digests() == 1
    now[0] = rome(3, 7, 30) - timedelta(seconds=1)  # another worker's hold, committed late
    await news(world, doc["id"], "teleconsult_request", "c2", now[0], initials="A. B.")
    await second.run_once()
    [late] = await held_of(world, doc["id"])
    assert late.due_at == rome(3, 7, 30)
    now[0] = rome(3, 7, 31)
    await first.run_once()
    await first.run_once()
    await smtp_server.wait_for(2)
    assert await held_of(world, doc["id"]) == []
    made = await digests_of(world, doc["id"])
    assert [(d.due_at, d.items, d.status) for d in made] == [
        (rome(3, 7, 30), 1, "sent"), (rome(3, 7, 31), 1, "sent")]
    # the two summaries go out in one pass, in either order
    assert sorted("patient A. B." in body_of(m) for m in smtp_server.messages) == [False, True]
