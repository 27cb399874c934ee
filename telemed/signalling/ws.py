"""The signalling WebSocket `/ws/visits/{visit_id}?token=...` (docs/visits.md).

The upgrade is refused (JSON error, no socket) when the Origin is not the site's
(`PUBLIC_URL`; a missing Origin is refused too), when the join token is invalid, expired or
for another visit, when the session it was issued to has ended (logout, "log out
everywhere", password change, deactivation, expiry), or when the visit cannot be joined now.

An open socket of a person follows that session (telemed.live_channels): when it ends, the
socket gets `error {code: session_ended}` and is closed with 1008, and the peer counts as
dropped (only a join token from an open session can take its seat back).

After the upgrade the first frame must be `join` (within 10 s). Then, per connection:
- a text frame above 64 KiB, a frame over the rate limit (30/s sustained, bursts of 120),
  an invalid message, a message before `join` and a clinician-only action by a non-clinician
  each get `error` and count as a strike; 5 strikes within 60 s close the socket with 1008;
- a frame that is not JSON gets `error {code: bad_json}`; the third one closes with 1003
  (unsupported data), as does any binary frame;
- the receive loop runs in try/finally, so whatever ends it (leave, drop, close, shutdown,
  cancellation) the peer is detached: it is kept for the 30-second resume window unless it
  left, was denied or the visit ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

from aiohttp import WSMessage, WSMsgType, web

from telemed import keys
from telemed.db.models import Visit, VisitGuest
from telemed.errors import ApiError, forbidden, not_found
from telemed.live_channels import Channel, live_channels
from telemed.principal import public
from telemed.security import TokenError
from telemed.services.sessions import live_session
from telemed.services.visit_guests import guest_id_of
from telemed.services.visit_tokens import JoinClaims, read_join_token
from telemed.services.visits import acting_for, check_joinable
from telemed.signalling import messages as m
from telemed.signalling.cluster import CLOSE_REJOIN, CLUSTER, ClusterUnavailable, Moved, Seat
from telemed.signalling.guard import (
    BAD_JSON_TO_CLOSE,
    HARD_FRAME_BYTES,
    Strikes,
    TokenBucket,
    frame_too_large,
)
from telemed.signalling.hub import HUB, Hub, Outbox
from telemed.signalling.names import delegate_name
from telemed.signalling.ops import Caller, join_room, operate
from telemed.signalling.rooms import Outcome, Room, RoomError, VisitKind

log = logging.getLogger("telemed.signalling")

routes = web.RouteTableDef()

JOIN_TIMEOUT = 10.0
HEARTBEAT = 30.0
CLOSE_POLICY = 1008
CLOSE_UNSUPPORTED = 1003
CLOSE_TRY_AGAIN = 1013  # the visit's owner process did not answer the join
STRIKING_CODES = frozenset({"forbidden", "bad_message", "unknown_type", "join_first",
                            "already_joined", "too_large", "rate_limited"})


def origin_of(url: str) -> str:
    """scheme://host[:port] with default ports dropped and the host lower-cased."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        return ""
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def origin_allowed(origin: str | None, public_url: str) -> bool:
    """True when a browser's Origin header names the site itself."""
    return bool(origin) and origin_of(origin or "") == origin_of(public_url)


@dataclass(frozen=True)
class Login:
    """The session a person's socket was opened with (guests have none)."""

    session_id: str
    expires_at: float


def _invalid_token() -> ApiError:
    return ApiError(401, "invalid_token", "The join token is invalid or has expired.")


async def _authenticate(request: web.Request) -> tuple[Caller, Login | None]:
    app = request.app
    settings = app[keys.SETTINGS]
    if not origin_allowed(request.headers.get("Origin"), settings.effective_public_url):
        raise ApiError(403, "bad_origin", "This page may not open the visit connection.")
    visit_id = request.match_info["visit_id"]
    try:
        claims: JoinClaims = read_join_token(settings.secret_key, request.query.get("token", ""))
    except TokenError:
        raise _invalid_token() from None
    if claims.visit_id != visit_id:
        raise forbidden("The join token is for another visit.")
    guest_id = guest_id_of(claims.user_id)
    if (guest_id is not None) != (claims.role == "guest"):
        raise _invalid_token()
    login: Login | None = None
    async with app[keys.SESSIONS]() as session:
        visit = await session.get(Visit, visit_id)
        if guest_id is not None:
            guest = await session.get(VisitGuest, guest_id)
            if guest is None or guest.visit_id != visit_id or guest.revoked_at is not None:
                raise forbidden("This invitation was withdrawn.")
            name = guest.name
        else:
            found = await live_session(session, claims.session_id or "")
            if found is None or found[1].id != claims.user_id:
                raise _invalid_token()  # its session ended (or it names none)
            row, user = found
            name = user.display_name
            if claims.role == "patient" and visit is not None:
                acting = await acting_for(session, user, visit.patient_id)
                if acting is not None:
                    name = delegate_name(settings.language, name, acting)
            login = Login(row.id, row.expires_at.timestamp())
    if visit is None:
        raise not_found("Visit")
    check_joinable(visit)
    caller = Caller(visit_id, cast(VisitKind, visit.kind), claims.user_id, name, claims.role)
    return caller, login


@routes.get("/ws/visits/{visit_id}")
@public  # authenticated by the join token in the query, not by a session
async def visit_socket(request: web.Request) -> web.WebSocketResponse:
    hub = request.app[HUB]
    if hub.closing:
        raise ApiError(503, "shutting_down", "The server is restarting; try again shortly.")
    caller, login = await _authenticate(request)
    ws = web.WebSocketResponse(max_msg_size=HARD_FRAME_BYTES, heartbeat=HEARTBEAT)
    await ws.prepare(request)
    connection = PeerConnection(request.app, hub, ws, caller)
    channels = live_channels(request.app)
    channel: Channel | None = None
    if login is not None:
        channel = channels.open_for(caller.user_id, login.session_id, login.expires_at,
                                    connection.credentials_ended)
    try:
        await connection.serve()
    finally:
        channels.close(channel)
    return ws


class PeerConnection:
    """One socket of one peer: the join handshake, then the receive loop."""

    def __init__(self, app: web.Application, hub: Hub, ws: web.WebSocketResponse,
                 caller: Caller) -> None:
        self.app = app
        self.settings = app[keys.SETTINGS]
        self.hub = hub
        self.cluster = app.get(CLUSTER)  # with the Redis bus (several processes)
        self.ws = ws
        self.caller = caller
        self.outbox = Outbox(ws)
        self.bucket = TokenBucket()
        self.strikes = Strikes()
        self.bad_json = 0
        self.room: Room | None = None
        self.seat: Seat | None = None  # the peer's room is on another process
        self.peer_id: str | None = None
        self.generation = 0
        self.done = False  # left, denied, replaced or ended: nothing to resume

    # Plumbing ----------------------------------------------------------------

    def credentials_ended(self, reason: str) -> None:
        """The session this socket was opened with ended: close. The peer counts as dropped
        (its seat is held for the resume window, which only a new join token can use)."""
        self.outbox.push(m.dump(m.Error(code="session_ended",
                                        message="Your session has ended; log in again.")))
        self.outbox.close(CLOSE_POLICY, "session ended")

    def _error(self, code: str, message: str) -> None:
        self.outbox.push(m.dump(m.Error(code=code, message=message)))
        if code in STRIKING_CODES and self.strikes.hit(time.monotonic()):
            self.outbox.push(m.dump(m.Error(code="closing",
                                            message="Too many refused messages.")))
            self.outbox.close(CLOSE_POLICY, "policy violation")

    async def serve(self) -> None:
        metrics = self.app[keys.METRICS]
        metrics.websockets.inc()
        self.hub.sockets.add(self.ws)
        writer = asyncio.create_task(self.outbox.run(), name="signalling-writer")
        try:
            if await self._handshake():
                async for frame in self.ws:
                    if self.outbox.closing:
                        break
                    await self._on_frame(frame)
        finally:
            await self._detach()
            if not writer.done():
                # Let queued frames (a final error, `denied`, `ended`) go out, briefly.
                if not self.outbox.closing:
                    self.outbox.close(1000, "")
                with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(writer), 1.0)
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writer
            if not self.ws.closed:
                await self.ws.close()
            self.hub.sockets.discard(self.ws)
            metrics.websockets.dec()

    async def _detach(self) -> None:
        seat, cluster = self.seat, self.cluster
        if seat is not None and cluster is not None:
            self.hub.detach(seat.peer_id, self.outbox)
            cluster.unseat(seat)
            if not self.done:
                await cluster.disconnect(seat)
            return
        room, peer_id = self.room, self.peer_id
        if room is None or peer_id is None:
            return
        self.hub.detach(peer_id, self.outbox)
        if not self.done:
            outcome = room.disconnect(peer_id, generation=self.generation, now=self.hub.clock())
            await self.hub.apply(room, outcome)
        else:
            self.hub.forget_if_empty(room)

    def _text_of(self, frame: WSMessage) -> str | None:
        if frame.type == WSMsgType.TEXT:
            text: str = frame.data
            if frame_too_large(text):
                self._error("too_large", "A message may be at most 64 KiB.")
                return None
            if not self.bucket.take(time.monotonic()):
                self._error("rate_limited", "Too many messages; slow down.")
                return None
            return text
        if frame.type == WSMsgType.BINARY:
            self.outbox.push(m.dump(m.Error(code="bad_frame", message="Send JSON text frames.")))
            self.outbox.close(CLOSE_UNSUPPORTED, "binary frames are not supported")
        return None

    def _parse(self, text: str) -> m.ClientMessage | None:
        try:
            return m.parse_client(text)
        except m.MessageError as exc:
            if exc.code == "bad_json":
                self.bad_json += 1
                self.outbox.push(m.dump(m.Error(code=exc.code, message=exc.message)))
                if self.bad_json >= BAD_JSON_TO_CLOSE:
                    self.outbox.close(CLOSE_UNSUPPORTED, "frames must be JSON")
            else:
                self._error(exc.code, exc.message)
            return None

    # Joining -------------------------------------------------------------------

    async def _handshake(self) -> bool:
        """Wait for `join` (pings are answered); False when the socket must end."""
        deadline = time.monotonic() + JOIN_TIMEOUT
        while not self.outbox.closing:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._error("join_timeout", "Send join first.")
                self.outbox.close(CLOSE_POLICY, "join expected")
                return False
            try:
                frame = await self.ws.receive(timeout=remaining)
            except TimeoutError:
                continue
            if frame.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED,
                              WSMsgType.ERROR):
                return False
            text = self._text_of(frame)
            message = self._parse(text) if text is not None else None
            if isinstance(message, m.Ping):
                self.outbox.push(m.dump(m.Pong()))
            elif isinstance(message, m.Join):
                assert text is not None
                return await self._join(message, text)
            elif message is not None:
                self._error("join_first", "Send join first.")
        return False

    async def _join(self, message: m.Join, text: str) -> bool:
        cluster = self.cluster
        if cluster is not None:
            for _ in range(3):
                try:
                    owner = await cluster.owner_of(self.caller.visit_id)
                    if owner == cluster.node:
                        break
                    return await self._join_remote(owner, text)
                except Moved:
                    continue
                except ClusterUnavailable as exc:
                    log.warning("visit %s: no owner answered (%s)", self.caller.visit_id, exc)
                    self.outbox.push(m.dump(m.Error(
                        code="unavailable", message="The visit is not reachable; try again.")))
                    self.outbox.close(CLOSE_TRY_AGAIN, "try again")
                    return False
        return await self._join_local(message)

    async def _join_local(self, message: m.Join) -> bool:
        try:
            room, joined, welcome = await join_room(self.hub, self.settings, self.caller,
                                                    message)
        except RoomError as exc:
            self._refused(exc)
            return False
        peer = joined.peer
        self.room, self.peer_id, self.generation = room, peer.peer_id, peer.generation
        self.hub.attach(peer.peer_id, self.outbox)
        if self.cluster is not None:
            await self.cluster.placed(room.visit_id, peer.peer_id, self.cluster.node)
        self.outbox.push(welcome)
        await self.hub.apply(room, joined.outcome)
        return True

    async def _join_remote(self, owner: str, text: str) -> bool:
        """Join the room another process owns (`welcome` is queued when it answers)."""
        cluster = self.cluster
        assert cluster is not None
        try:
            seat = await cluster.join(owner, self.caller, text, self.outbox)
        except RoomError as exc:
            self._refused(exc)
            return False
        self.seat, self.peer_id, self.generation = seat, seat.peer_id, seat.generation
        return True

    def _refused(self, exc: RoomError) -> None:
        self.outbox.push(m.dump(m.Error(code=exc.code, message=exc.message)))
        self.outbox.close(CLOSE_POLICY if exc.code == "room_full" else 1000, exc.code)

    # The receive loop -------------------------------------------------------------

    async def _on_frame(self, frame: WSMessage) -> None:
        text = self._text_of(frame)
        if text is None:
            return
        message = self._parse(text)
        if message is None:
            return
        if self.seat is not None:
            await self._on_remote_frame(self.seat, message, text)
            return
        room, peer_id = self.room, self.peer_id
        assert room is not None and peer_id is not None
        try:
            outcome = self._operate(room, peer_id, message)
        except RoomError as exc:
            self._error(exc.code, exc.message)
            return
        if outcome is not None:
            await self.hub.apply(room, outcome)

    async def _on_remote_frame(self, seat: Seat, message: m.ClientMessage, text: str) -> None:
        cluster = self.cluster
        assert cluster is not None
        if isinstance(message, m.Ping):
            self.outbox.push(m.dump(m.Pong()))
            return
        if isinstance(message, m.Join):
            self._error("already_joined", "This connection has already joined.")
            return
        try:
            await cluster.operate(seat, text)
        except RoomError as exc:
            self._error(exc.code, exc.message)
            return
        except (ClusterUnavailable, Moved):
            self.outbox.push(m.dump(m.Error(code="unavailable",
                                            message="The visit was interrupted; join again.")))
            self.outbox.close(CLOSE_REJOIN, "join again")
            return
        if isinstance(message, (m.Leave, m.End)):
            self.done = True

    def _operate(self, room: Room, peer_id: str, message: m.ClientMessage) -> Outcome | None:
        match message:
            case m.Leave():
                self.done = True
            case m.End():
                outcome = operate(room, peer_id, message, self.hub.clock())
                self.done = True
                return outcome
            case m.Ping():
                self.outbox.push(m.dump(m.Pong()))
                return None
        return operate(room, peer_id, message, self.hub.clock())
