"""The rooms of this process and the sockets of their peers.

`Hub` keeps one `Room` per visit with someone in it and one `Outbox` per local peer, carries
rooms' outcomes out (`deliver`), stores what must outlive the room (`record`: chat lines,
visit phases) and removes the peers that did not resume in time (`reap`, run every second
by the cleanup context in `setup.py`).

Delivery is the seam for several processes: an effect addressed to a peer id is handed to
that peer's local outbox; with the Redis bus, `cluster` (`cluster.py`) publishes the frames
of peers connected to other processes on their process's channel (docs/visits.md,
"Several processes"). Without it (the in-process bus) nothing else happens.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from aiohttp import web

from telemed.db.engine import SessionFactory
from telemed.metrics import Metrics
from telemed.services import visits as visit_service
from telemed.signalling.messages import ChatFrom, ServerMessage, dump, dump_once
from telemed.signalling.rooms import CHAT_HISTORY, Close, Outcome, Room, Send, VisitKind

log = logging.getLogger("telemed.signalling")

OUTBOX_FRAMES = 256  # frames queued for one peer before it counts as too slow
CLOSE_TOO_SLOW = 1008


@dataclass(frozen=True)
class CloseFrame:
    code: int
    reason: str


class Outbox:
    """One socket's outgoing frames, written in order by the connection's writer task."""

    def __init__(self, ws: web.WebSocketResponse, size: int = OUTBOX_FRAMES) -> None:
        self.ws = ws
        self.queue: asyncio.Queue[str | CloseFrame] = asyncio.Queue(size)
        self.closing = False

    def push(self, frame: str) -> None:
        if self.closing:
            return
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            log.warning("signalling peer too slow: closing its socket")
            self._drain()
            self.close(CLOSE_TOO_SLOW, "too slow")

    def close(self, code: int, reason: str) -> None:
        """Close the socket once the frames queued before are written."""
        if self.closing:
            return
        self.closing = True
        if self.queue.full():
            self._drain()
        self.queue.put_nowait(CloseFrame(code, reason))

    def _drain(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()

    async def run(self) -> None:
        """The writer task: send queued frames until a close (or a dead socket)."""
        while True:
            item = await self.queue.get()
            try:
                if isinstance(item, CloseFrame):
                    await self.ws.close(code=item.code, message=item.reason.encode())
                    return
                await self.ws.send_str(item)
            except (ConnectionError, RuntimeError):
                return


class Forwarding(Protocol):
    """What the hub asks of the cluster (`cluster.Cluster`) when rooms span processes."""

    async def forward(self, room: Room, outcome: Outcome) -> None:
        """Send the outcome's frames for peers on other processes to them."""

    def forget(self, visit_id: str) -> None:
        """The room is gone here: release what the cluster holds for it."""


class Hub:
    """Rooms and local peers of one process."""

    def __init__(
        self,
        sessions: SessionFactory,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sessions = sessions
        self.metrics = metrics
        self.clock = clock
        self.rooms: dict[str, Room] = {}
        self.outboxes: dict[str, Outbox] = {}
        self.sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()
        self.closing = False
        self.cluster: Forwarding | None = None  # set with the Redis bus (several processes)

    # Rooms -----------------------------------------------------------------

    async def room(self, visit_id: str, kind: VisitKind) -> Room:
        """The visit's room, created with the last chat lines when it is not open yet."""
        room = self.rooms.get(visit_id)
        if room is not None:
            return room
        async with self.sessions() as session:
            rows = await visit_service.chat_history(session, visit_id, CHAT_HISTORY)
        history = [
            ChatFrom(from_=row.sender_id, text=row.text, ts=row.ts.isoformat(), seq=row.seq,
                     name=name)
            for row, name in rows
        ]
        room = self.rooms.setdefault(visit_id, Room(visit_id, kind, history=history))
        self._gauge()
        return room

    def forget_if_empty(self, room: Room) -> None:
        if room.empty:
            self.drop_room(room)

    def drop_room(self, room: Room) -> None:
        """Forget the room (emptied, or given up to another process)."""
        if self.rooms.get(room.visit_id) is room:
            del self.rooms[room.visit_id]
            if self.cluster is not None:
                self.cluster.forget(room.visit_id)
            self._gauge()

    def _gauge(self) -> None:
        if self.metrics is not None:
            self.metrics.active_visits.set(len(self.rooms))

    # Peers -----------------------------------------------------------------

    def attach(self, peer_id: str, outbox: Outbox) -> None:
        """Route the peer's frames to `outbox` (an older socket of the same peer is closed)."""
        old = self.outboxes.get(peer_id)
        if old is not None and old is not outbox:
            old.close(4002, "resumed elsewhere")
        self.outboxes[peer_id] = outbox

    def detach(self, peer_id: str, outbox: Outbox) -> None:
        if self.outboxes.get(peer_id) is outbox:
            del self.outboxes[peer_id]

    def send(self, peer_id: str, message: ServerMessage) -> None:
        outbox = self.outboxes.get(peer_id)
        if outbox is not None:
            outbox.push(dump(message))

    def deliver(self, outcome: Outcome) -> None:
        """Carry out the room's effects on the local sockets, in order."""
        frames: dict[int, str] = {}
        for effect in outcome.effects:
            outbox = self.outboxes.get(effect.peer_id)
            if outbox is None:
                continue
            if isinstance(effect, Send):
                outbox.push(dump_once(effect.message, frames))
            elif isinstance(effect, Close):
                outbox.close(effect.code, effect.reason)

    async def record(self, room: Room, outcome: Outcome) -> None:
        """Store the chat line and the visit phase an outcome carries (errors are logged)."""
        if outcome.chat is None and outcome.phase is None:
            return
        try:
            async with self.sessions() as session:
                if outcome.chat is not None:
                    line = outcome.chat
                    sender = room.peers.get(line.from_)
                    await visit_service.save_chat(
                        session, visit_id=room.visit_id, seq=line.seq,
                        sender_id=sender.user_id if sender else line.from_, text=line.text,
                        ts=datetime.fromisoformat(line.ts).astimezone(UTC),
                    )
                if outcome.phase is not None:
                    await visit_service.advance(session, room.visit_id, outcome.phase)
        except Exception:
            log.exception("could not store the outcome of visit %s", room.visit_id)

    async def apply(self, room: Room, outcome: Outcome) -> None:
        """Deliver an outcome, store what it carries, drop the room when it emptied."""
        self.deliver(outcome)
        if self.cluster is not None:
            await self.cluster.forward(room, outcome)
        await self.record(room, outcome)
        self.forget_if_empty(room)

    async def remove_user(self, visit_id: str, user_id: str) -> bool:
        """Disconnect a person from the visit's room held by this process (a revoked guest).

        True when the room is here. With several processes the room may live on another
        one; the person cannot join again anyway (the join checks revocation).
        """
        room = self.rooms.get(visit_id)
        if room is None:
            return False
        await self.apply(room, room.remove_user(user_id))
        return True

    async def reap(self) -> None:
        """Remove peers that did not resume within the window."""
        now = self.clock()
        for room in list(self.rooms.values()):
            outcome = room.expire(now)
            if outcome.effects or room.empty:
                await self.apply(room, outcome)

    async def close_all(self, code: int = 1001, reason: str = "server shutdown") -> None:
        """Close every socket (shutdown)."""
        self.closing = True
        sockets = list(self.sockets)
        await asyncio.gather(
            *(ws.close(code=code, message=reason.encode()) for ws in sockets),
            return_exceptions=True,
        )


HUB: web.AppKey[Hub] = web.AppKey("signalling")  # set by telemed.signalling.setup
