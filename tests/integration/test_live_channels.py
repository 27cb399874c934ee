"""Every live channel ends with the credential that opened it (issue #10, item 7).

The matrix: alert stream opened with a token and with a cookie, signalling socket joined
with a token asked for with a bearer token and with a cookie, each ended by "log out
everywhere", by logging out the session that opened it, by a password change made from
another session, by the credential's expiry while open, and by an administrator deactivating
the user. A session that is not concerned keeps its channel.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.app import create_app
from telemed.db.models import UserSession
from telemed.db.types import utcnow
from telemed.live_channels import check_now, live_channels
from telemed.settings import Settings
from telemed.signalling import messages as m
from telemed.signalling.client import SignallingClient
from tests.conftest import PASSWORD, World
from tests.helpers.redis import REDIS_URL, redis_available
from tests.integration.credentials import (
    STREAM,
    Browser,
    channels_open,
    expire_sessions_of,
    short_token,
)
from tests.integration.sse import next_event
from tests.integration.visit_helpers import ORIGIN, VisitSetup, make_visit

Client = TestClient[Any, Any]
NEW_PASSWORD = "Un-altra-password-lunga-8"


@dataclass
class Scene:
    client: Client
    world: World
    visit: VisitSetup
    admin_headers: dict[str, str]
    browsers: list[Browser] = field(default_factory=list)
    opened: list[Live] = field(default_factory=list)  # closed after the test

    @property
    def doctor(self) -> dict[str, str]:
        return self.visit.doctor

    async def browser(self) -> Browser:
        browser = Browser(self.client)
        self.browsers.append(browser)
        await browser.log_in(self.doctor["username"])
        return browser


@pytest.fixture
async def scene(client: Client, world: World) -> AsyncIterator[Scene]:
    visit = await make_visit(world)
    admin = await world.user("admin")
    made = Scene(client, world, visit, await world.token(admin["username"]))
    yield made
    for channel in made.opened:  # released before their sessions close (no unclosed connection)
        await channel.close()
    for browser in made.browsers:
        await browser.close()


# The credential a channel is opened with: bearer headers or a logged-in browser.
Credential = dict[str, str] | Browser


class Live:
    """An open channel under test."""

    async def ended(self) -> str:
        """Wait for the end; what the server said (a reason or an error code)."""
        raise NotImplementedError

    async def still_open(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class Stream(Live):
    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self.resp = resp

    async def ended(self) -> str:
        event = await next_event(self.resp, seconds=5)
        assert event.event == "session_ended"
        with pytest.raises(EOFError):
            await next_event(self.resp, seconds=5)
        return str(event.data["reason"])

    async def still_open(self) -> None:
        with pytest.raises(TimeoutError):
            await next_event(self.resp, seconds=0.5)

    async def close(self) -> None:
        self.resp.close()


class Socket(Live):
    def __init__(self, peer: SignallingClient) -> None:
        self.peer = peer

    async def ended(self) -> str:
        error = await self.peer.expect(m.Error, within=5)
        async with asyncio.timeout(5):
            while not self.peer.ws.closed:  # type: ignore[union-attr]
                await self.peer.ws.receive()  # type: ignore[union-attr]
        assert self.peer.close_code == 1008
        return error.code

    async def still_open(self) -> None:
        await self.peer.send(m.Ping())
        await self.peer.expect(m.Pong, within=2)

    async def close(self) -> None:
        if self.peer.ws is not None and not self.peer.ws.closed:
            await self.peer.ws.close()


async def _stream(scene: Scene, credential: Credential) -> Live:
    if isinstance(credential, Browser):
        resp = await credential.http.get(credential.url(STREAM))
    else:
        resp = await scene.client.get(STREAM, headers=credential)
    assert resp.status == 200, await resp.text()
    await channels_open(scene.client.app, scene.doctor["id"], 1)
    scene.opened.append(Stream(resp))
    return scene.opened[-1]


async def _socket(scene: Scene, credential: Credential) -> Live:
    path = f"/api/v1/visits/{scene.visit.visit_id}/join"
    if isinstance(credential, Browser):
        resp = await credential.http.get(credential.url(path))
    else:
        resp = await scene.client.get(path, headers=credential)
    assert resp.status == 200, await resp.text()
    token = (await resp.json())["token"]
    url = str(scene.client.make_url(f"/ws/visits/{scene.visit.visit_id}"))
    peer = await SignallingClient(scene.client.session, url, token, origin=ORIGIN).connect()
    await peer.send(m.Join())
    await peer.expect(m.Welcome)
    await channels_open(scene.client.app, scene.doctor["id"], 1)
    scene.opened.append(Socket(peer))
    return scene.opened[-1]


async def _token(scene: Scene, seconds: int | None) -> Credential:
    if seconds is not None:
        return await short_token(scene.client.app, scene.doctor["username"], seconds)
    return await scene.world.token(scene.doctor["username"])


async def _cookie(scene: Scene, seconds: int | None) -> Credential:
    browser = await scene.browser()
    if seconds is not None:
        await expire_sessions_of(scene.client.app, scene.doctor["id"], seconds)
    return browser


CHANNELS: dict[str, tuple[Callable[[Scene, int | None], Awaitable[Credential]],
                          Callable[[Scene, Credential], Awaitable[Live]]]] = {
    "stream-token": (_token, _stream),
    "stream-cookie": (_cookie, _stream),
    "socket-token": (_token, _socket),
    "socket-cookie": (_cookie, _socket),
}


async def _logout_everywhere(scene: Scene, _opened_with: Credential) -> None:
    other = await scene.world.token(scene.doctor["username"])
    resp = await scene.client.post("/api/v1/auth/logout-everywhere", headers=other)
    assert resp.status == 200


async def _logout(scene: Scene, opened_with: Credential) -> None:
    if isinstance(opened_with, Browser):
        resp = await opened_with.post_form("/logout", {})
        assert resp.status == 303
    else:
        resp = await scene.client.post("/api/v1/auth/logout", headers=opened_with)
        assert resp.status == 200


async def _password_change(scene: Scene, _opened_with: Credential) -> None:
    other = await scene.world.token(scene.doctor["username"])
    resp = await scene.client.post("/api/v1/users/me/password", headers=other, json={
        "current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert resp.status == 200, await resp.text()


async def _deactivation(scene: Scene, _opened_with: Credential) -> None:
    resp = await scene.client.patch(f"/api/v1/users/{scene.doctor['id']}",
                                    headers=scene.admin_headers, json={"active": False})
    assert resp.status == 200, await resp.text()


async def _expiry(_scene: Scene, _opened_with: Credential) -> None:
    return None  # the credential was made to expire two seconds after it was issued


EVENTS: dict[str, tuple[Callable[[Scene, Credential], Awaitable[None]], str]] = {
    "logout-everywhere": (_logout_everywhere, "logout_everywhere"),
    "logout": (_logout, "logout"),
    "password-change": (_password_change, "password_changed"),
    "deactivation": (_deactivation, "deactivated"),
    "expiry": (_expiry, "expired"),
}


async def _rejected(scene: Scene, credential: Credential) -> bool:
    if isinstance(credential, Browser):
        resp = await credential.http.get(credential.url("/api/v1/users/me"))
    else:
        resp = await scene.client.get("/api/v1/users/me", headers=credential)
    return resp.status == 401


@pytest.mark.parametrize("event", list(EVENTS))
@pytest.mark.parametrize("channel", list(CHANNELS))
async def test_channel_ends_with_its_credential(scene: Scene, channel: str, event: str) -> None:
    make_credential, open_channel = CHANNELS[channel]
    act, reason = EVENTS[event]
    credential = await make_credential(scene, 2 if event == "expiry" else None)
    live = await open_channel(scene, credential)
    await live.still_open()
    await act(scene, credential)
    said = await live.ended()
    assert said == (reason if isinstance(live, Stream) else "session_ended")
    assert await _rejected(scene, credential)
    assert not live_channels(scene.client.app).by_user.get(scene.doctor["id"])


@pytest.mark.parametrize("channel", list(CHANNELS))
async def test_other_sessions_keep_their_channels(scene: Scene, channel: str) -> None:
    """Logging out one session, or changing the password from it, leaves the others' channels
    alone only where they should: logout ends just its own session; a password change ends
    the others but keeps the changer's."""
    make_credential, open_channel = CHANNELS[channel]
    changer = await make_credential(scene, None)
    kept = await open_channel(scene, changer)
    bystander = await scene.world.token(scene.doctor["username"])
    await _logout(scene, bystander)  # another session logs out: nothing of ours ends
    await kept.still_open()
    if isinstance(changer, Browser):
        resp = await changer.post_json("/api/v1/users/me/password", {
            "current_password": PASSWORD, "new_password": NEW_PASSWORD})
    else:
        resp = await scene.client.post("/api/v1/users/me/password", headers=changer, json={
            "current": PASSWORD, "new": NEW_PASSWORD})  # the other spelling (docs/api.md)
    assert resp.status == 200, await resp.text()
    await kept.still_open()
    assert not await _rejected(scene, changer)


async def test_join_token_of_an_ended_session_opens_nothing(scene: Scene) -> None:
    headers = await scene.world.token(scene.doctor["username"])
    resp = await scene.client.get(f"/api/v1/visits/{scene.visit.visit_id}/join",
                                  headers=headers)
    token = (await resp.json())["token"]
    await _logout_everywhere(scene, headers)
    url = str(scene.client.make_url(f"/ws/visits/{scene.visit.visit_id}"))
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await SignallingClient(scene.client.session, url, token, origin=ORIGIN).connect()
    assert refused.value.status == 401


async def test_a_lost_event_is_caught_by_the_periodic_check(scene: Scene) -> None:
    """A revocation stored without its bus event (another process, Redis down) still ends
    the channel at the next re-read of the open sessions."""
    headers = await scene.world.token(scene.doctor["username"])
    live = await _stream(scene, headers)
    app = scene.client.app
    async with app[keys.SESSIONS]() as db:
        for sid in live_channels(app).session_ids():
            row = await db.get(UserSession, sid)
            assert row is not None
            row.revoked_at = utcnow()
            db.add(row)
        await db.commit()
    await live.still_open()  # no event was published
    await check_now(app)
    assert await live.ended() == "revoked"




async def test_a_revocation_reaches_channels_of_another_process(
    aiohttp_client: Callable[[web.Application], Awaitable[Client]], settings: Settings
) -> None:
    """Two web processes on one database and one Redis: logging out everywhere on one ends
    the stream open on the other at once (the credentials event crosses the bus)."""
    await redis_available()
    shared = settings.model_copy(update={
        "redis_url": REDIS_URL, "redis_prefix": f"telemed-test:{secrets.token_hex(6)}:"})
    first = await aiohttp_client(create_app(shared, role="web"))
    second = await aiohttp_client(create_app(shared, role="web"))
    world = World(first.app, first)
    doctor = await world.user("doctor")
    headers = await world.token(doctor["username"])
    resp = await second.get(STREAM, headers=headers)
    assert resp.status == 200
    await channels_open(second.app, doctor["id"], 1)
    live = Stream(resp)
    await live.still_open()
    other = await world.token(doctor["username"])
    assert (await first.post("/api/v1/auth/logout-everywhere", headers=other)).status == 200
    assert await live.ended() == "logout_everywhere"
