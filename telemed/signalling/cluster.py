"""Signalling across processes: one owner process per visit, reached over the bus.

With the Redis bus (`TELEMED_REDIS_URL`), several web processes serve `/ws/visits/{id}`
without sticky sessions. For each visit one process *owns* the room: the first process a
peer of the visit joins on takes a lease (`RedisLeases`, key `lease:visit:{id}`, 10 s,
renewed every 3 s while the room exists). Every room operation runs on the owner, so the
pure `Room` stays the single source of truth and its order is the owner's order:

- a process whose socket is not the owner's forwards the operation (join with the raw
  `join` frame, then each client frame, then the disconnect) on the owner's node channel
  `signalling:node:{owner}` and waits for the reply (5 s);
- the owner applies it exactly as for a local socket (`ops.py`), delivers the outcome to
  its own sockets and publishes the frames for peers living elsewhere on their node's
  channel (`deliver`); the reply follows the deliveries, and one process's publications
  keep their order, so a peer sees the same sequence as with a single process;
- the join reply carries the `welcome` frame; the forwarding process attaches the socket
  and queues `welcome` in the same step, before reading any later delivery.

When the owner dies its rooms are lost like on a restart: forwarded operations time out,
the sockets are closed with 1012 and the pages reconnect and join afresh (once the lease
expired, another process becomes the owner). A socket that sends nothing (a patient waiting
to be admitted) learns it too: every 3 s each process checks the lease of the visits its
forwarded sockets sit in, and closes them with 1012 when the owner changed or its lease
lapsed. Durable state (visit phase, chat lines) is in the database either way.

A process that finds, on renewing, that another process holds the lease of a room it has
(its lease lapsed: Redis lost the key, or the process stalled past the 10 s) gives the room
up (`surrender`): every peer's socket, here or elsewhere, is closed with 1012 and the pages
join again on the lease holder, so a visit never has two rooms for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from telemed.bus.base import Event, EventBus, Subscription
from telemed.settings import Settings
from telemed.signalling import messages as m
from telemed.signalling.hub import Hub, Outbox
from telemed.signalling.ops import Caller, join_room, operate
from telemed.signalling.rooms import Close, Outcome, Room, RoomError, Send
from telemed.tasks import cancel_and_wait

log = logging.getLogger("telemed.signalling")

LEASE_MS = 10_000
RENEW_SECONDS = 3.0
REQUEST_TIMEOUT = 5.0
MOVED_RETRIES = 3
CLOSE_RESUMED_ELSEWHERE = 4002
CLOSE_REJOIN = 1012  # the room moved to another process (or is gone): join again


class Leases(Protocol):
    async def claim(self, name: str, holder: str, ttl_ms: int) -> str: ...

    async def release(self, name: str, holder: str) -> None: ...


class ClusterUnavailable(Exception):
    """The visit's owner did not answer (it died or the bus is down)."""


class Moved(Exception):
    """The process asked is not the visit's owner (any more)."""


def node_id() -> str:
    """A name for this process, unique across restarts."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"


def node_channel(node: str) -> str:
    return f"signalling:node:{node}"


@dataclass(frozen=True)
class Seat:
    """A local socket's peer in a room owned by another process."""

    owner: str
    visit_id: str
    peer_id: str
    generation: int


@dataclass
class _Pending:
    future: asyncio.Future[Event]
    on_reply: Callable[[Event], None] | None


class Cluster:
    """This process's part in cross-process signalling (see the module's docstring)."""

    def __init__(self, hub: Hub, bus: EventBus, leases: Leases, settings: Settings,
                 node: str | None = None) -> None:
        self.hub = hub
        self.bus = bus
        self.leases = leases
        self.settings = settings
        self.node = node or node_id()
        self.remote: dict[str, dict[str, str]] = {}  # visit -> {peer id -> its node}
        self._held: set[str] = set()
        self._seats: dict[Seat, Outbox] = {}  # local sockets in rooms owned elsewhere
        self._pending: dict[str, _Pending] = {}
        self._ids = itertools.count(1)
        self._subscription: Subscription | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # Lifetime ------------------------------------------------------------------

    async def start(self) -> None:
        self._subscription = self.bus.subscribe(node_channel(self.node))
        if not await self._subscription.ready():
            log.warning("signalling: the bus did not confirm this node's channel yet")
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._consume(), name="signalling-cluster"),
                       loop.create_task(self._renew(), name="signalling-leases")]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []
        if self._subscription is not None:
            await self._subscription.close()
        for pending in self._pending.values():
            pending.future.cancel()
        self._pending.clear()
        self._seats.clear()
        for visit_id in list(self._held):
            with contextlib.suppress(Exception):
                await self.leases.release(_lease(visit_id), self.node)
        self._held.clear()

    # Ownership ------------------------------------------------------------------

    async def owner_of(self, visit_id: str) -> str:
        """The visit's owner, this process when nobody had it."""
        try:
            owner = await self.leases.claim(_lease(visit_id), self.node, LEASE_MS)
        except Exception as exc:
            raise ClusterUnavailable(str(exc)) from exc
        if owner == self.node:
            self._held.add(visit_id)
        return owner

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            try:
                for visit_id in list(self.hub.rooms):
                    owner = await self.leases.claim(_lease(visit_id), self.node, LEASE_MS)
                    if owner == self.node:
                        self._held.add(visit_id)
                    else:
                        await self.surrender(visit_id, owner)
                for visit_id in list(self._held - set(self.hub.rooms)):
                    await self.leases.release(_lease(visit_id), self.node)
                    self._held.discard(visit_id)
                await self._check_owners()
            except Exception:
                log.exception("renewing the signalling leases failed")

    async def _check_owners(self) -> None:
        """Close forwarded sockets whose room's owner is gone (its lease changed hands)."""
        by_visit: dict[str, list[Seat]] = {}
        for seat in self._seats:
            by_visit.setdefault(seat.visit_id, []).append(seat)
        for visit_id, seats in by_visit.items():
            owner = await self.leases.claim(_lease(visit_id), self.node, LEASE_MS)
            for seat in seats:
                if seat.owner == owner:
                    continue
                outbox = self._seats.pop(seat, None)
                if outbox is None:
                    continue
                log.warning("visit %s: owner %s is gone (lease now %s); its peer %s here "
                            "joins again", visit_id, seat.owner, owner, seat.peer_id)
                outbox.push(m.dump(m.Error(code="unavailable",
                                           message="The visit was interrupted; join again.")))
                outbox.close(CLOSE_REJOIN, "join again")

    async def surrender(self, visit_id: str, owner: str) -> None:
        """Give up this process's room of a visit leased to `owner`: its peers join there."""
        self._held.discard(visit_id)
        room = self.hub.rooms.get(visit_id)
        if room is None:
            return
        log.warning("visit %s is leased to %s: closing its room here (%d peers rejoin there)",
                    visit_id, owner, len(room.peers))
        outcome = Outcome(effects=[Close(peer_id, CLOSE_REJOIN, "join again")
                                   for peer_id in room.peers])
        self.hub.deliver(outcome)
        await self.forward(room, outcome)
        self.hub.drop_room(room)

    # Forwarding side ----------------------------------------------------------------

    async def _request(self, owner: str, body: Event,
                       on_reply: Callable[[Event], None] | None = None) -> Event:
        req = f"{self.node}:{next(self._ids)}"
        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._pending[req] = _Pending(future, on_reply)
        try:
            await self.bus.publish(node_channel(owner),
                                   {**body, "kind": "op", "req": req, "node": self.node})
            async with asyncio.timeout(REQUEST_TIMEOUT):
                reply = await future
        except TimeoutError:
            raise ClusterUnavailable(f"the owner {owner} did not answer") from None
        except Exception as exc:  # the bus refused the event
            raise ClusterUnavailable(str(exc)) from exc
        finally:
            self._pending.pop(req, None)
        error = reply.get("error")
        if isinstance(error, dict):
            if error.get("code") == "moved":
                raise Moved(str(error.get("message", "")))
            if error.get("code") == "unavailable":
                raise ClusterUnavailable(str(error.get("message", "")))
            raise RoomError(str(error.get("code")), str(error.get("message", "")))
        return reply

    async def join(self, owner: str, caller: Caller, text: str, outbox: Outbox) -> Seat:
        """Join on the owner; the socket is attached and `welcome` queued on the reply."""

        def attach(reply: Event) -> None:
            peer_id, frame = reply.get("peer_id"), reply.get("frame")
            if isinstance(peer_id, str) and isinstance(frame, str):
                self.hub.attach(peer_id, outbox)
                outbox.push(frame)

        reply = await self._request(owner, {
            "op": "join", "visit_id": caller.visit_id, "visit_kind": caller.kind,
            "user_id": caller.user_id, "name": caller.name, "role": caller.role,
            "text": text}, attach)
        seat = Seat(owner, caller.visit_id, str(reply["peer_id"]), int(reply["generation"]))
        self._seats[seat] = outbox
        return seat

    def unseat(self, seat: Seat) -> None:
        """The socket of a forwarded seat is gone."""
        self._seats.pop(seat, None)

    async def operate(self, seat: Seat, text: str) -> None:
        """Apply a client frame on the owner (RoomError when it refuses it)."""
        await self._request(seat.owner, {"op": "frame", "visit_id": seat.visit_id,
                                         "peer_id": seat.peer_id, "text": text})

    async def disconnect(self, seat: Seat) -> None:
        """Tell the owner the socket dropped (the peer may resume); no answer awaited."""
        with contextlib.suppress(Exception):
            await self.bus.publish(node_channel(seat.owner), {
                "kind": "op", "op": "disconnect", "visit_id": seat.visit_id,
                "peer_id": seat.peer_id, "generation": seat.generation, "node": self.node})

    # Owner side ---------------------------------------------------------------------

    async def placed(self, visit_id: str, peer_id: str, node: str) -> None:
        """The peer's socket is now on `node`: a socket elsewhere is closed (4002)."""
        nodes = self.remote.setdefault(visit_id, {})
        previous = nodes.get(peer_id)
        if node == self.node:
            nodes.pop(peer_id, None)
        else:
            nodes[peer_id] = node
            old = self.hub.outboxes.pop(peer_id, None)
            if old is not None:
                old.close(CLOSE_RESUMED_ELSEWHERE, "resumed elsewhere")
        if previous is not None and previous != node:
            await self._publish_frames(previous, [[peer_id, None, CLOSE_RESUMED_ELSEWHERE,
                                                   "resumed elsewhere"]])

    async def forward(self, room: Room, outcome: Outcome) -> None:
        """Publish the outcome's effects for peers on other processes; forget the gone."""
        nodes = self.remote.get(room.visit_id)
        if not nodes:
            return
        frames: dict[str, list[list[Any]]] = {}
        dumped: dict[int, str] = {}
        for effect in outcome.effects:
            node = nodes.get(effect.peer_id)
            if node is None:
                continue
            if isinstance(effect, Send):
                frames.setdefault(node, []).append(
                    [effect.peer_id, m.dump_once(effect.message, dumped), None, None])
            elif isinstance(effect, Close):
                frames.setdefault(node, []).append([effect.peer_id, None, effect.code,
                                                    effect.reason])
        for node, batch in frames.items():
            await self._publish_frames(node, batch)
        for peer_id in [p for p in nodes if p not in room.peers]:
            del nodes[peer_id]

    def forget(self, visit_id: str) -> None:
        """The room closed here."""
        self.remote.pop(visit_id, None)

    async def _publish_frames(self, node: str, frames: list[list[Any]]) -> None:
        try:
            await self.bus.publish(node_channel(node), {"kind": "deliver", "frames": frames})
        except Exception:
            log.exception("signalling: could not deliver frames to %s", node)

    async def _reply(self, event: Event, body: Event) -> None:
        node, req = event.get("node"), event.get("req")
        if isinstance(node, str) and isinstance(req, str):
            try:
                await self.bus.publish(node_channel(node), {**body, "kind": "reply",
                                                            "req": req})
            except Exception:
                log.exception("signalling: could not answer %s", node)

    async def _on_op(self, event: Event) -> None:
        op, visit_id = event.get("op"), str(event.get("visit_id"))
        room = self.hub.rooms.get(visit_id)
        if op == "disconnect":
            if room is not None:
                outcome = room.disconnect(str(event.get("peer_id")),
                                          generation=int(event.get("generation", 0)),
                                          now=self.hub.clock())
                await self.hub.apply(room, outcome)
            return
        try:
            if op == "join":
                await self._on_join(event, room)
            elif op == "frame":
                await self._on_frame(event, room)
        except RoomError as exc:
            await self._reply(event, {"error": {"code": exc.code, "message": exc.message}})
        except Moved as exc:
            await self._reply(event, {"error": {"code": "moved", "message": str(exc)}})
        except Exception:
            log.exception("signalling: operation %s on visit %s failed", op, visit_id)
            await self._reply(event, {"error": {"code": "unavailable",
                                                "message": "The operation failed."}})

    async def _on_join(self, event: Event, room: Room | None) -> None:
        visit_id = str(event["visit_id"])
        if room is None:
            owner = await self.owner_of(visit_id)
            if owner != self.node:
                raise Moved(owner)
        message = m.parse_client(str(event["text"]))
        if not isinstance(message, m.Join):
            raise RoomError("join_first", "Send join first.")
        caller = Caller(visit_id, event["visit_kind"], str(event["user_id"]),
                        str(event["name"]), event["role"])
        room, joined, frame = await join_room(self.hub, self.settings, caller, message)
        peer = joined.peer
        await self.placed(visit_id, peer.peer_id, str(event["node"]))
        await self._reply(event, {"peer_id": peer.peer_id, "generation": peer.generation,
                                  "frame": frame})
        await self.hub.apply(room, joined.outcome)

    async def _on_frame(self, event: Event, room: Room | None) -> None:
        if room is None:
            raise RoomError("room_gone", "The visit's room is no longer open; join again.")
        message = m.parse_client(str(event["text"]))
        outcome = operate(room, str(event["peer_id"]), message, self.hub.clock())
        if outcome is not None:
            await self.hub.apply(room, outcome)
        await self._reply(event, {"ok": True})

    # Receiving ----------------------------------------------------------------------

    async def _consume(self) -> None:
        while True:
            subscription = self._subscription
            assert subscription is not None
            try:
                async for event in subscription:
                    try:
                        await self._on_event(event)
                    except Exception:
                        log.exception("signalling: a cluster message failed")
                return
            except Exception:  # overflow: frames were lost; peers resynchronise by resuming
                log.error("signalling: this node fell behind its bus channel")
                self._subscription = self.bus.subscribe(node_channel(self.node))

    async def _on_event(self, event: Event) -> None:
        kind = event.get("kind")
        if kind == "op":
            await self._on_op(event)
        elif kind == "reply":
            pending = self._pending.get(str(event.get("req")))
            if pending is not None and not pending.future.done():
                if pending.on_reply is not None and "error" not in event:
                    pending.on_reply(event)  # before any later delivery is read
                pending.future.set_result(event)
        elif kind == "deliver":
            for peer_id, frame, code, reason in event.get("frames", ()):
                outbox = self.hub.outboxes.get(peer_id)
                if outbox is None:
                    continue
                if frame is not None:
                    outbox.push(frame)
                else:
                    outbox.close(int(code), str(reason))


CLUSTER: web.AppKey[Cluster] = web.AppKey("signalling_cluster")  # set with the Redis bus


def _lease(visit_id: str) -> str:
    return f"visit:{visit_id}"
