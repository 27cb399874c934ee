"""Guests of a visit: one-time invitation links, the guest's page, signalling and revocation."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.test_utils import TestClient
from sqlmodel import select

from telemed import keys
from telemed.db.models import AuditEvent
from telemed.signalling import messages as m
from telemed.signalling.client import SignallingClient
from tests.conftest import World
from tests.integration.visit_helpers import ORIGIN, VisitSetup, close_code, connect, make_visit


async def _invite(client: TestClient[Any, Any], setup: VisitSetup, name: str = "Maria Rossi",
                  who: dict[str, str] | None = None) -> aiohttp.ClientResponse:
    person = who or setup.doctor
    return await client.post(f"/api/v1/visits/{setup.visit_id}/guests",
                             headers=setup.headers[person["username"]], json={"name": name})


async def _open_link(client: TestClient[Any, Any], link: str,
                     cookie: str | None = None) -> aiohttp.ClientResponse:
    parts = urlsplit(link)
    headers = {"Cookie": f"telemed_guest={cookie}"} if cookie else {}
    return await client.get(f"{parts.path}?{parts.query}", allow_redirects=False,
                            headers=headers)


async def _guest_cookie(client: TestClient[Any, Any], link: str) -> str:
    resp = await _open_link(client, link)
    assert resp.status == 303, await resp.text()
    assert "?" not in resp.headers["Location"]
    morsel = resp.cookies["telemed_guest"]
    assert morsel["httponly"] and morsel["path"].endswith("/guest")
    return morsel.value


async def _guest_join(client: TestClient[Any, Any], setup: VisitSetup,
                      cookie: str) -> aiohttp.ClientResponse:
    return await client.get(f"/visits/{setup.visit_id}/guest/join",
                            headers={"Cookie": f"telemed_guest={cookie}"})


async def _guest_socket(client: TestClient[Any, Any], setup: VisitSetup,
                        cookie: str) -> SignallingClient:
    resp = await _guest_join(client, setup, cookie)
    assert resp.status == 200, await resp.text()
    info = await resp.json()
    assert info["role"] == "guest"
    url = str(client.make_url(f"/ws/visits/{setup.visit_id}"))
    return await SignallingClient(client.session, url, info["token"], origin=ORIGIN).connect()


async def test_clinician_invites_a_guest_and_the_invitation_is_audited(
    client: TestClient[Any, Any], world: World
) -> None:
    setup = await make_visit(world)
    bell = await _invite(client, setup, "Maria\u0007 Rossi")
    assert bell.status == 422  # control characters are refused, never stripped silently
    resp = await _invite(client, setup, "  Maria \t Rossi ")
    assert resp.status == 201, await resp.text()
    guest = await resp.json()
    assert guest["name"] == "Maria Rossi" and guest["used"] is False
    assert guest["link"].startswith(f"http://127.0.0.1:8080/visits/{setup.visit_id}/guest?t=")
    assert guest["expires_at"]
    async with world.app[keys.SESSIONS]() as session:
        events = (await session.exec(select(AuditEvent).where(
            AuditEvent.resource == "visit_guest", AuditEvent.resource_id == guest["id"]))).all()
    assert [(e.action, e.actor_id) for e in events] == [("create", setup.doctor["id"])]

    listed = await client.get(f"/api/v1/visits/{setup.visit_id}/guests",
                              headers=setup.headers[setup.doctor["username"]])
    assert [g["id"] for g in (await listed.json())["items"]] == [guest["id"]]


async def test_who_may_invite_and_the_limits(client: TestClient[Any, Any], world: World) -> None:
    setup = await make_visit(world)
    resp = await _invite(client, setup, who=setup.patient_user)
    assert resp.status == 403
    outsider = await world.user("doctor")
    setup.headers[outsider["username"]] = await world.token(outsider["username"])
    resp = await _invite(client, setup, who=outsider)
    assert resp.status == 403
    resp = await _invite(client, setup, "   ")
    assert resp.status == 422
    assert "name" in (await resp.json())["error"]["fields"]

    first = await _invite(client, setup)
    assert first.status == 201
    second = await _invite(client, setup, "Interprete")
    assert second.status == 409
    assert (await second.json())["error"]["code"] == "guest_limit"
    # Revoking frees the place.
    revoked = await client.delete(
        f"/api/v1/visits/{setup.visit_id}/guests/{(await first.json())['id']}",
        headers=setup.headers[setup.doctor["username"]])
    assert revoked.status == 200 and (await revoked.json())["revoked_at"]
    assert (await _invite(client, setup, "Interprete")).status == 201
    missing = await client.delete(f"/api/v1/visits/{setup.visit_id}/guests/nope",
                                  headers=setup.headers[setup.doctor["username"]])
    assert missing.status == 404


async def test_teleconsult_guests_fit_within_six(client: TestClient[Any, Any],
                                                 world: World) -> None:
    setup = await make_visit(world, kind="teleconsult", clinicians=3)
    assert (await _invite(client, setup, "A")).status == 201
    assert (await _invite(client, setup, "B")).status == 201
    assert (await _invite(client, setup, "C")).status == 409  # 3 + patient + 2 = 6


async def test_cancelled_visit_takes_no_guests(client: TestClient[Any, Any],
                                               world: World) -> None:
    setup = await make_visit(world)
    headers = setup.headers[setup.doctor["username"]]
    assert (await client.post(f"/api/v1/visits/{setup.visit_id}/cancel",
                              headers=headers)).status == 200
    resp = await _invite(client, setup)
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "visit_cancelled"


async def test_the_link_works_once_and_opens_the_guest_page(
    client: TestClient[Any, Any], world: World
) -> None:
    setup = await make_visit(world)
    link = (await (await _invite(client, setup)).json())["link"]
    cookie = await _guest_cookie(client, link)

    page = await client.get(f"/visits/{setup.visit_id}/guest",
                            headers={"Cookie": f"telemed_guest={cookie}"})
    assert page.status == 200
    html = await page.text()
    assert "Maria Rossi" in html and 'data-role="guest"' in html
    assert f'data-join-url="/visits/{setup.visit_id}/guest/join"' in html
    assert "btn-test" not in html  # no pre-call test without an account

    # The same browser may open the link again; another one may not.
    assert (await _open_link(client, link, cookie=cookie)).status == 303
    client.session.cookie_jar.clear()  # now as another browser
    again = await _open_link(client, link)
    assert again.status == 410
    tampered = await _open_link(client, link[:-3] + "AAA")
    assert tampered.status == 403
    assert (await client.get(f"/visits/{setup.visit_id}/guest")).status == 403
    assert (await client.get(f"/visits/{setup.visit_id}/guest/join")).status == 403
    other = await make_visit(world)
    assert (await _guest_join(client, other, cookie)).status == 403  # scoped to its visit


async def test_guest_waits_is_admitted_and_is_disconnected_when_revoked(
    client: TestClient[Any, Any], world: World
) -> None:
    setup = await make_visit(world)
    guest = await (await _invite(client, setup, "Interprete Bianchi")).json()
    cookie = await _guest_cookie(client, guest["link"])

    doctor = await connect(client, setup, setup.doctor)
    await doctor.send(m.Join())
    d_welcome = await doctor.expect(m.Welcome)
    visitor = await _guest_socket(client, setup, cookie)
    await visitor.send(m.Join())
    g_welcome = await visitor.expect(m.Welcome)
    assert g_welcome.role == "guest" and g_welcome.state == "waiting"
    assert g_welcome.participants == ()
    knock = await doctor.expect(m.Knock)
    assert knock.peer.role == "guest" and knock.peer.name == "Interprete Bianchi"

    # Waiting: no signal either way.
    await visitor.send(m.Signal(to=d_welcome.peer_id, data={"sdp": {"type": "offer"}}))
    assert (await visitor.expect(m.Error)).code == "not_admitted"

    await doctor.send(m.Admit(peer_id=g_welcome.peer_id))
    admitted = await visitor.expect(m.Admitted)
    assert [p.peer_id for p in admitted.participants] == [d_welcome.peer_id]
    joined = await doctor.expect(m.PeerJoined)
    assert joined.peer.role == "guest"
    await visitor.send(m.Chat(text="Traduco io"))
    line = await doctor.expect(m.ChatFrom)
    assert line.name == "Interprete Bianchi" and line.text == "Traduco io"
    await visitor.expect(m.ChatFrom)

    resp = await client.delete(f"/api/v1/visits/{setup.visit_id}/guests/{guest['id']}",
                               headers=setup.headers[setup.doctor["username"]])
    assert resp.status == 200
    assert await close_code(visitor) == 4003
    left = await doctor.expect(m.PeerLeft)
    assert left.peer_id == g_welcome.peer_id
    # Revoked: no join details, no page, no socket with a token issued before.
    assert (await _guest_join(client, setup, cookie)).status == 403
    assert (await _open_link(client, guest["link"], cookie=cookie)).status == 403
    await doctor.send(m.Ping())
    assert isinstance(await doctor.receive(), m.Pong)
    await doctor.close()


async def test_revoked_guest_token_is_refused_at_the_upgrade(
    client: TestClient[Any, Any], world: World
) -> None:
    setup = await make_visit(world)
    guest = await (await _invite(client, setup)).json()
    cookie = await _guest_cookie(client, guest["link"])
    token = (await (await _guest_join(client, setup, cookie)).json())["token"]
    await client.delete(f"/api/v1/visits/{setup.visit_id}/guests/{guest['id']}",
                        headers=setup.headers[setup.doctor["username"]])
    url = str(client.make_url(f"/ws/visits/{setup.visit_id}"))
    try:
        await SignallingClient(client.session, url, token, origin=ORIGIN).connect()
    except aiohttp.WSServerHandshakeError as exc:
        assert exc.status == 403
    else:
        raise AssertionError("a revoked guest's socket was accepted")
