"""The notification centre, user contact details and preferences, the on-call rota (API),
the live stream and the header's bell."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.db.models import Notification, OnCallShift, User
from telemed.notify import outbox
from tests.conftest import PASSWORD, World
from tests.helpers.pages import log_in
from tests.integration.notify.clinic import Clinic
from tests.integration.sse import next_event

Client = TestClient[Any, Any]


async def _note(world: World, user_id: str, kind: str = "document_available",
                at: datetime | None = None) -> str:
    async with world.app[keys.SESSIONS]() as session:
        [n] = await outbox.record(session, user_ids=[user_id], kind=kind, params={},
                                  link="/my-record", cause_type="visit", cause_id="v1",
                                  now=at)
        await session.commit()
        return n.id


# --- users: email and preferences ---------------------------------------------------------


async def test_create_user_validates_email_and_preferences(client: Client,
                                                           world: World) -> None:
    admin = await world.token((await world.user("admin"))["username"])
    base = {"password": PASSWORD, "role": "doctor", "display_name": "Dr. Neri"}
    for bad, field in ((dict(email="not-an-address"), "email"),
                       (dict(email="a@b"), "email"),
                       (dict(email="a b@example.org"), "email"),
                       (dict(notify={"pager_spam": True}), "notify.pager_spam"),
                       (dict(notify={"alert_escalated": False}), "notify.alert_escalated")):
        resp = await client.post("/api/v1/users", json={**base, "username": "neri", **bad},
                                 headers=admin)
        assert resp.status == 422, bad
        assert field in (await resp.json())["error"]["fields"]
    listed = await client.get("/api/v1/users?role=doctor", headers=admin)
    assert [u for u in (await listed.json())["items"] if u["username"] == "neri"] == []
    ok = await client.post("/api/v1/users", headers=admin, json={
        **base, "username": "neri", "email": " neri@asl.example ",
        "notify": {"alert_critical": True}})
    assert ok.status == 201
    made = await ok.json()
    assert made["email"] == "neri@asl.example" and made["notify"]["alert_critical"] is True


async def test_patch_me_changes_only_my_own_details_and_refuses_bad_input(
        client: Client, world: World) -> None:
    me = await world.user("patient", patient_id=(await world.patient()).id)
    headers = await world.token(me["username"])
    resp = await client.patch("/api/v1/users/me", headers=headers,
                              json={"email": "me@home.example", "language": "it",
                                    "notify": {"document_available": False}})
    assert resp.status == 200
    data = await resp.json()
    assert (data["email"], data["language"]) == ("me@home.example", "it")
    assert data["notify"]["document_available"] is False
    assert data["notify"]["emergency_access"] is True
    for bad in ({"email": "nope"}, {"notify": {"emergency_access": False}},
                {"notify": {"unknown": True}}, {"language": "fr"},
                {"email": "x@y.example", "notify": {"alert_escalated": False}},
                {"role": "admin"}):
        refused = await client.patch("/api/v1/users/me", json=bad, headers=headers)
        assert refused.status == 422, bad
    after = await (await client.get("/api/v1/users/me", headers=headers)).json()
    assert after["email"] == "me@home.example" and after["role"] == "patient"
    cleared = await client.patch("/api/v1/users/me", json={"email": None}, headers=headers)
    assert (await cleared.json())["email"] is None


async def test_opted_out_kind_is_not_recorded(client: Client, world: World) -> None:
    me = await world.user("patient", patient_id=(await world.patient()).id)
    await client.patch("/api/v1/users/me", json={"notify": {"document_available": False}},
                       headers=await world.token(me["username"]))
    async with world.app[keys.SESSIONS]() as session:
        made = await outbox.record(session, user_ids=[me["id"]], kind="document_available",
                                   params={}, link="/", cause_type="visit", cause_id="v")
        forced = await outbox.record(session, user_ids=[me["id"]], kind="emergency_access",
                                     params={}, link="/", cause_type="x", cause_id="y")
        await session.commit()
    assert made == [] and len(forced) == 1


# --- the notification centre --------------------------------------------------------------


async def test_list_is_own_only_newest_first_paginated_and_read_is_scoped(
        client: Client, world: World) -> None:
    alice, bob = await world.user("nurse"), await world.user("nurse")
    t0 = datetime.now(UTC)
    ids = [await _note(world, alice["id"], at=t0 + timedelta(seconds=i)) for i in range(3)]
    bobs = await _note(world, bob["id"])
    headers = await world.token(alice["username"])
    first = await (await client.get("/api/v1/notifications?limit=2", headers=headers)).json()
    assert [n["id"] for n in first["items"]] == [ids[2], ids[1]]
    assert first["unread"] == 3
    assert first["items"][0]["title"] == "A new document is available in your record"
    assert set(first["items"][0]) >= {"id", "kind", "title", "link", "created_at", "read_at"}
    rest = await (await client.get(
        f"/api/v1/notifications?limit=2&cursor={first['next_cursor']}", headers=headers)).json()
    assert [n["id"] for n in rest["items"]] == [ids[0]] and rest["next_cursor"] is None

    other = await client.post(f"/api/v1/notifications/{bobs}/read", headers=headers)
    assert other.status == 404
    async with world.app[keys.SESSIONS]() as session:
        stored = await session.get(Notification, bobs)
        assert stored is not None and stored.read_at is None
    assert (await client.post("/api/v1/notifications/nope/read", headers=headers)).status == 404
    read = await client.post(f"/api/v1/notifications/{ids[1]}/read", headers=headers)
    assert read.status == 200 and (await read.json())["read_at"] is not None
    unread = await (await client.get("/api/v1/notifications?unread=true",
                                     headers=headers)).json()
    assert [n["id"] for n in unread["items"]] == [ids[2], ids[0]] and unread["unread"] == 2
    assert (await client.get("/api/v1/notifications?cursor=zzz",
                             headers=headers)).status == 400
    assert (await client.get("/api/v1/notifications")).status == 401


async def test_titles_follow_the_recipients_language(client: Client, world: World) -> None:
    me = await world.user("nurse")
    headers = await world.token(me["username"])
    await client.patch("/api/v1/users/me", json={"language": "it"}, headers=headers)
    await _note(world, me["id"], "emergency_access")
    data = await (await client.get("/api/v1/notifications", headers=headers)).json()
    assert data["items"][0]["title"] == "Accesso di emergenza alla tua cartella sanitaria"


async def test_stream_sends_my_new_notifications_only(client: Client, world: World) -> None:
    me, other = await world.user("doctor"), await world.user("doctor")
    headers = await world.token(me["username"])
    await _note(world, me["id"])
    from telemed.notify.setup import NOTIFIER

    worker = world.app[NOTIFIER]
    await worker.run_once()  # the first one is announced before we listen
    resp = await client.get("/api/v1/notifications/stream", headers=headers)
    assert resp.status == 200
    first = await next_event(resp)
    assert first.event == "unread" and first.data == {"unread": 1}
    await _note(world, other["id"])
    mine = await _note(world, me["id"], "emergency_access")
    await worker.run_once()
    event = await next_event(resp)
    assert event.event == "notification"
    assert event.data["notification"]["id"] == mine and event.data["unread"] == 2
    resp.close()


async def test_bell_shows_the_unread_count_on_every_page(client: Client, world: World) -> None:
    nurse = await world.user("nurse")
    await _note(world, nurse["id"])
    await _note(world, nurse["id"])
    anonymous = await (await client.get("/login")).text()
    assert "data-bell-count" not in anonymous
    assert (await log_in(client, nurse["username"])).status == 303
    page = await (await client.get("/notifications")).text()
    assert 'data-bell-count>2</span>' in page
    assert page.count("notification__open") == 2
    other = await (await client.get("/alerts")).text()
    assert 'data-bell-count>2</span>' in other


# --- on call -------------------------------------------------------------------------------


async def test_oncall_shifts_are_validated_and_nothing_changes_on_refusal(
        client: Client, world: World) -> None:
    clinic = await Clinic(world).build()
    doctor = await clinic.ward.headers(clinic.ward.doctor)
    now = datetime.now(UTC)

    def shift(user_id: str, start_h: float, end_h: float) -> dict[str, str]:
        return {"user_id": user_id,
                "starts_at": (now + timedelta(hours=start_h)).isoformat(),
                "ends_at": (now + timedelta(hours=end_h)).isoformat()}

    ok = await client.post("/api/v1/oncall", json=shift(clinic.oncall["id"], -1, 8),
                           headers=doctor)
    assert ok.status == 201
    refusals = [
        (shift("no-such-user", 1, 2), 422),
        (shift(clinic.ward.patient_user["id"], 1, 2), 422),  # not a clinician
        (shift(clinic.ward.admin["id"], 1, 2), 422),
        (shift(clinic.ward.nurse["id"], 5, 2), 422),  # inverted
        (shift(clinic.ward.nurse["id"], -5, -2), 422),  # in the past
        (shift(clinic.oncall["id"], 7, 12), 409),  # overlaps the first
        ({"user_id": clinic.ward.nurse["id"], "starts_at": "2030-01-01T08:00",
          "ends_at": "2030-01-01T20:00"}, 422),  # no offset
    ]
    for body, status in refusals:
        resp = await client.post("/api/v1/oncall", json=body, headers=doctor)
        assert resp.status == status, (body, await resp.text())
    async with world.app[keys.SESSIONS]() as session:
        from sqlmodel import select

        assert len((await session.exec(select(OnCallShift))).all()) == 1
    nurse = await clinic.ward.headers(clinic.ward.nurse)
    assert (await client.post("/api/v1/oncall", json=shift(clinic.ward.nurse["id"], 1, 2),
                              headers=nurse)).status == 403
    at = (now + timedelta(hours=2)).isoformat()
    who = await client.get("/api/v1/oncall", params={"at": at}, headers=nurse)
    assert [s["user_id"] for s in (await who.json())["items"]] == [clinic.oncall["id"]]
    later = await client.get("/api/v1/oncall",
                             params={"at": (now + timedelta(hours=9)).isoformat()},
                             headers=nurse)
    assert (await later.json())["items"] == []
    assert (await client.get("/api/v1/oncall?at=yesterday", headers=nurse)).status == 400
    patient = await clinic.ward.headers(clinic.ward.patient_user)
    assert (await client.get("/api/v1/oncall", headers=patient)).status == 403


async def test_oncall_page_week_view_and_form(client: Client, world: World) -> None:
    clinic = await Clinic(world).build()
    assert (await log_in(client, clinic.ward.doctor["username"])).status == 303
    page = await client.get("/oncall")
    assert page.status == 200 and "data-oncall-week" in await page.text()
    from tests.helpers.pages import post_form

    start = datetime.now(UTC) + timedelta(hours=1)
    fmt = "%Y-%m-%dT%H:%M"
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Europe/Rome")
    resp = await post_form(client, "/oncall", {
        "user_id": clinic.oncall["id"], "starts_at": start.astimezone(tz).strftime(fmt),
        "ends_at": (start + timedelta(hours=8)).astimezone(tz).strftime(fmt)}, "/oncall")
    assert resp.status == 303
    week = await (await client.get(resp.headers["Location"])).text()
    async with world.app[keys.SESSIONS]() as session:
        user = await session.get(User, clinic.oncall["id"])
        assert user is not None
    assert user.display_name in week and "data-shift" in week
    inverted = await post_form(client, "/oncall", {
        "user_id": clinic.oncall["id"], "starts_at": start.astimezone(tz).strftime(fmt),
        "ends_at": (start - timedelta(hours=2)).astimezone(tz).strftime(fmt)}, "/oncall")
    assert inverted.status == 422


async def test_new_user_form_collects_a_valid_email(client: Client, world: World) -> None:
    from tests.helpers.pages import field_error, post_form

    admin = await world.user("admin")
    assert (await log_in(client, admin["username"])).status == 303
    form = {"display_name": "Dott. Neri", "username": "neri", "role": "doctor",
            "password": PASSWORD, "email": "neri@"}
    bad = await post_form(client, "/users/new", form, "/users/new")
    assert bad.status == 422 and field_error(await bad.text(), "email")
    good = await post_form(client, "/users/new", {**form, "email": "neri@asl.example"},
                           "/users/new")
    assert good.status == 303
    async with world.app[keys.SESSIONS]() as session:
        from sqlmodel import select

        [user] = (await session.exec(select(User).where(User.username == "neri"))).all()
    assert user.email == "neri@asl.example"


async def test_settings_page_saves_email_and_choices_but_not_mandatory_ones(
        client: Client, world: World) -> None:
    from tests.helpers.pages import post_form

    nurse = await world.user("nurse")
    assert (await log_in(client, nurse["username"])).status == 303
    page = await (await client.get("/settings/notifications")).text()
    assert 'id="notify_alert_escalated"' in page and "disabled" in page
    assert 'id="notify_document_cosign"' in page and "A report waits for my co-signature" in page
    bad = await post_form(client, "/settings/notifications", {"email": "x"},
                          "/settings/notifications")
    assert bad.status == 422
    ok = await post_form(client, "/settings/notifications",
                         {"email": "n@asl.example", "notify_alert_critical": "on"},
                         "/settings/notifications")
    assert ok.status == 303
    async with world.app[keys.SESSIONS]() as session:
        user = await session.get(User, nurse["id"])
        assert user is not None
    assert user.email == "n@asl.example"
    assert user.notify_prefs == {"alert_critical": True, "visit_changed": False,
                                 "teleconsult_request": False, "teleconsult_update": False,
                                 "document_cosign": False}


async def test_without_a_mail_server_everything_is_recorded_and_nothing_sent(
        client: Client, world: World) -> None:
    from sqlmodel import select

    from telemed.db.models import NotificationDelivery
    from telemed.notify.setup import NOTIFIER

    nurse = await world.user("nurse")
    async with world.app[keys.SESSIONS]() as session:
        user = await session.get(User, nurse["id"])
        assert user is not None
        user.email = "n@asl.example"
        session.add(user)
        await session.commit()
    nid = await _note(world, nurse["id"], "alert_escalated")
    assert await world.app[NOTIFIER].run_once() == (1, 0)
    async with world.app[keys.SESSIONS]() as session:
        assert (await session.exec(select(NotificationDelivery))).all() == []
        stored = await session.get(Notification, nid)
        assert stored is not None and stored.dispatched_at is not None
    assert await world.app[NOTIFIER].run_once() == (0, 0)  # dispatched once only
    assert (await client.get("/api/v1/notifications/stream")).status == 401
