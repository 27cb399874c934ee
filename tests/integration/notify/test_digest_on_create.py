"""An administrator creating an account sets its daily digest choices (POST /api/v1/users
takes `notify_delivery` and `digest_time` as PATCH /users/me does); bad ones are refused
exactly as the PATCH refuses them, creating nothing; nobody else creates an account."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlmodel import select

from telemed import keys
from telemed.db.models import User
from tests.conftest import PASSWORD, World

Client = TestClient[Any, Any]
NEW = {"username": "dr.galli", "password": PASSWORD, "role": "doctor",
       "display_name": "Dott.ssa Marta Galli"}
BAD = (
    ({"notify_delivery": {"teleconsult_urgent": "digest"}},  # not_digestible
     {"notify_delivery.teleconsult_urgent"}),
    ({"notify_delivery": {"alert_escalated": "digest", "visit_reminder": "digest"}},
     {"notify_delivery.alert_escalated", "notify_delivery.visit_reminder"}),
    ({"notify_delivery": {"no_such_kind": "digest"}}, {"notify_delivery.no_such_kind"}),
    ({"notify_delivery": {"document_cosign": "weekly"}}, {"notify_delivery.document_cosign"}),
    ({"digest_time": "25:00"}, {"digest_time"}),
    ({"digest_time": "7.30"}, {"digest_time"}),
    ({"notify_delivery": {"teleconsult_urgent": "digest"}, "digest_time": "24:00",
      "email": "not-an-address"},
     {"notify_delivery.teleconsult_urgent", "digest_time", "email"}),
)


async def _users(world: World) -> list[str]:
    async with world.app[keys.SESSIONS]() as session:
        return list((await session.exec(select(User.username))).all())


async def test_an_admin_creates_an_account_with_its_digest_choices(
        client: Client, world: World) -> None:
    admin = await world.token((await world.user("admin"))["username"])
    chosen = {**NEW, "email": "galli@asl.example", "digest_time": "18:15",
              "notify_delivery": {"teleconsult_update": "digest", "document_cosign": "digest",
                                  "teleconsult_request": "immediate"}}
    for role in ("doctor", "nurse"):  # an administrator's act only
        headers = await world.token((await world.user(role))["username"])
        assert (await client.post("/api/v1/users", headers=headers, json=chosen)).status == 403
    assert "dr.galli" not in await _users(world)
    resp = await client.post("/api/v1/users", headers=admin, json=chosen)
    assert resp.status == 201, await resp.text()
    made = await resp.json()
    assert made["digest_time"] == "18:15"
    held = {kind for kind, how in made["notify_delivery"].items() if how == "digest"}
    assert held == {"teleconsult_update", "document_cosign"}
    async with world.app[keys.SESSIONS]() as session:
        user = (await session.exec(select(User).where(User.username == "dr.galli"))).one()
        assert (user.digest_kinds, user.digest_time) == (
            ["document_cosign", "teleconsult_update"], "18:15")
    me = await (await client.get("/api/v1/users/me",
                                 headers=await world.token("dr.galli"))).json()
    assert (me["notify_delivery"], me["digest_time"]) == (made["notify_delivery"], "18:15")
    # Without them: right away, at the default time, as before.
    resp = await client.post("/api/v1/users", headers=admin, json={**NEW, "username": "n.neri"})
    plain = await resp.json()
    assert resp.status == 201 and plain["digest_time"] == "07:30"
    assert set(plain["notify_delivery"].values()) == {"immediate"}


async def test_bad_choices_are_refused_as_the_patch_refuses_them_and_create_nothing(
        client: Client, world: World) -> None:
    admin = await world.token((await world.user("admin"))["username"])
    doctor = await world.user("doctor")
    own = await world.token(doctor["username"])
    before = await _users(world)
    for bad, fields in BAD:
        created = await client.post("/api/v1/users", headers=admin, json={**NEW, **bad})
        patched = await client.patch("/api/v1/users/me", headers=own, json=bad)
        assert (created.status, patched.status) == (422, 422), bad
        error = (await created.json())["error"]
        assert error["code"] == "validation_error" and set(error["fields"]) == fields, bad
        assert error == (await patched.json())["error"], bad  # one validation path
    assert await _users(world) == before

