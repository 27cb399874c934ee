"""Pure room state of one visit: waiting room, admission, politeness, chat, resume, limits.

A `Room` does no I/O and reads no clock: every operation takes the current time and
returns an `Outcome` — the messages to send to which peer, the sockets to close, a chat
line to store and the visit phase reached. The WebSocket layer (`hub.py`, `ws.py`) carries
the outcome out. Because a room is a deterministic state machine fed with operations,
running it on several processes only needs the operations delivered in one order to every
replica (see docs/visits.md, "Several processes").

Rules (docs/visits.md, "The protocol"):
- clinicians are admitted at once; patients and guests wait until a clinician admits them;
  a waiting peer sees nobody, and no signal reaches or leaves it;
- for each pair of admitted peers exactly one is polite (the one that joined later), so
  perfect negotiation resolves glare;
- a peer whose socket drops stays for `RESUME_SECONDS`; resuming keeps its id and state,
  gets the signals addressed to it meanwhile and the chat lines after `last_seq`;
- participants per kind: televisit and teleassistance at most 2 clinicians, 1 patient and
  1 guest; teleconsult at most 6 in all (mesh).
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from telemed.signalling.messages import (
    Admitted,
    ChatFrom,
    Denied,
    Ended,
    Knock,
    PeerInfo,
    PeerJoined,
    PeerLeft,
    PeerState,
    Precall,
    ServerMessage,
    SignalFrom,
    View,
    ViewFrom,
    VisitRole,
)

VisitKind = Literal["televisit", "teleconsult", "teleassistance"]
Phase = Literal["waiting", "in_progress", "completed"]
PHASE_ORDER: dict[Phase, int] = {"waiting": 1, "in_progress": 2, "completed": 3}

RESUME_SECONDS = 30.0
CHAT_HISTORY = 200  # chat lines kept for replay after a resume
PENDING_SIGNALS = 128  # signals kept for a dropped peer until it resumes
VIEW_MIN_INTERVAL = 0.02  # views relayed per peer at most 50 a second (faster ones dropped)

# WebSocket close codes used by the room.
CLOSE_NORMAL = 1000
CLOSE_REPLACED = 4001  # the same person joined again from another tab or device
CLOSE_REMOVED = 4003  # a clinician withdrew the person's invitation (a revoked guest)


@dataclass(frozen=True)
class Limits:
    """How many peers a visit of one kind may hold, in all and per role."""

    total: int
    per_role: Mapping[VisitRole, int]


LIMITS: dict[VisitKind, Limits] = {
    "televisit": Limits(4, {"clinician": 2, "patient": 1, "guest": 1}),
    "teleassistance": Limits(4, {"clinician": 2, "patient": 1, "guest": 1}),
    "teleconsult": Limits(6, {"patient": 1}),
}


class RoomError(Exception):
    """An operation the room refuses; `code` is the snake_case error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Send:
    """Send `message` to the peer's socket."""

    peer_id: str
    message: ServerMessage


@dataclass(frozen=True)
class Close:
    """Close the peer's socket (after the messages sent to it before)."""

    peer_id: str
    code: int
    reason: str


Effect = Send | Close


@dataclass
class Outcome:
    """What an operation asks the outside world to do."""

    effects: list[Effect] = field(default_factory=list)
    chat: ChatFrom | None = None
    phase: Phase | None = None  # set when the visit reached a new phase

    def send(self, peer_id: str, message: ServerMessage) -> None:
        self.effects.append(Send(peer_id, message))

    def close(self, peer_id: str, code: int, reason: str) -> None:
        self.effects.append(Close(peer_id, code, reason))


@dataclass
class Peer:
    """One participant's connection to the room."""

    peer_id: str
    user_id: str
    name: str
    role: VisitRole
    order: int
    state: PeerState
    precall: Precall | None = None
    generation: int = 1  # bumped at each resume: a stale socket's disconnect is ignored
    connected: bool = True
    gone_at: float | None = None
    pending: deque[SignalFrom] = field(default_factory=lambda: deque(maxlen=PENDING_SIGNALS))

    @property
    def admitted(self) -> bool:
        return self.state == "admitted"

    @property
    def is_clinician(self) -> bool:
        return self.role == "clinician"

    def info(self, polite: bool | None = None) -> PeerInfo:
        return PeerInfo(peer_id=self.peer_id, role=self.role, name=self.name, polite=polite)


@dataclass(frozen=True)
class Joined:
    """The result of `join` or `resume`: the peer, whom it sees, and what to send."""

    peer: Peer
    participants: tuple[PeerInfo, ...]
    outcome: Outcome
    resumed: bool = False


def _new_peer_id() -> str:
    return secrets.token_urlsafe(12)


def iso_time(now: float) -> str:
    """A unix time as ISO 8601 with offset."""
    return datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")


class Room:
    """The live state of one visit's call."""

    def __init__(
        self,
        visit_id: str,
        kind: VisitKind,
        *,
        history: Iterable[ChatFrom] = (),
        new_peer_id: Callable[[], str] = _new_peer_id,
    ) -> None:
        self.visit_id = visit_id
        self.kind = kind
        self.limits = LIMITS[kind]
        self.peers: dict[str, Peer] = {}
        self.history: deque[ChatFrom] = deque(history, maxlen=CHAT_HISTORY)
        self.seq = self.history[-1].seq if self.history else 0
        self.ended = False
        self.phase: Phase | None = None
        self._orders = 0
        self._new_peer_id = new_peer_id
        self.lead: str | None = None  # the peer whose image view the others follow
        self._last_view: dict[str, float] = {}

    # Queries ---------------------------------------------------------------

    @property
    def empty(self) -> bool:
        return not self.peers

    def admitted(self, *, but: str | None = None) -> list[Peer]:
        return [p for p in self.peers.values() if p.admitted and p.peer_id != but]

    def waiting(self) -> list[Peer]:
        return [p for p in self.peers.values() if not p.admitted]

    def _peer(self, peer_id: str) -> Peer:
        peer = self.peers.get(peer_id)
        if peer is None:
            raise RoomError("unknown_peer", "There is no such peer in this visit.")
        return peer

    def _visible(self, viewer: Peer) -> tuple[PeerInfo, ...]:
        """The admitted peers `viewer` sees, with its politeness towards each."""
        if not viewer.admitted:
            return ()
        return tuple(
            p.info(polite=viewer.order > p.order) for p in self.admitted(but=viewer.peer_id)
        )

    # Delivery helpers -----------------------------------------------------

    def _send(self, out: Outcome, peer: Peer, message: ServerMessage) -> None:
        if peer.connected:
            out.send(peer.peer_id, message)
        elif isinstance(message, SignalFrom):
            peer.pending.append(message)  # delivered when it resumes

    def _announce_arrival(self, out: Outcome, peer: Peer) -> None:
        """Tell the admitted peers about a newly admitted one."""
        for other in self.admitted(but=peer.peer_id):
            self._send(out, other, PeerJoined(peer=peer.info(), polite=other.order > peer.order))

    def _knock(self, out: Outcome, peer: Peer, to: Iterable[Peer]) -> None:
        for clinician in to:
            if clinician.is_clinician and clinician.admitted:
                self._send(out, clinician, Knock(peer=peer.info(), precall=peer.precall))

    def _remove(self, out: Outcome, peer: Peer) -> None:
        """Drop a peer and tell whoever saw it."""
        del self.peers[peer.peer_id]
        self._last_view.pop(peer.peer_id, None)
        if self.lead == peer.peer_id:
            self.lead = None  # the next participant to show a study leads
        viewers = (
            self.admitted()
            if peer.admitted
            else [p for p in self.admitted() if p.is_clinician]
        )
        for other in viewers:
            self._send(out, other, PeerLeft(peer_id=peer.peer_id))

    def _advance(self, out: Outcome) -> None:
        """Record the phase the visit reached (phases only move forward)."""
        if self.ended:
            reached: Phase | None = "completed"
        elif self._meeting():
            reached = "in_progress"
        elif self.peers:
            reached = "waiting"
        else:
            reached = None
        if reached is not None and (
            self.phase is None or PHASE_ORDER[reached] > PHASE_ORDER[self.phase]
        ):
            self.phase = reached
            out.phase = reached

    def _meeting(self) -> bool:
        admitted = self.admitted()
        if self.kind == "teleconsult":
            return len(admitted) >= 2
        return any(p.is_clinician for p in admitted) and any(not p.is_clinician for p in admitted)

    def _check_limits(self, role: VisitRole, ignoring: set[str]) -> None:
        present = [p for p in self.peers.values() if p.peer_id not in ignoring]
        if len(present) >= self.limits.total:
            raise RoomError("room_full",
                            "This visit already has as many participants as it allows.")
        cap = self.limits.per_role.get(role)
        if cap is not None and sum(p.role == role for p in present) >= cap:
            raise RoomError("room_full", f"This visit already has as many {role}s as it allows.")

    def _require(self, peer_id: str, *, clinician: bool = False) -> Peer:
        peer = self._peer(peer_id)
        if clinician and not peer.is_clinician:
            raise RoomError("forbidden", "Only clinicians may do this.")
        if not peer.admitted:
            raise RoomError("not_admitted", "Wait until a clinician lets you in.")
        return peer

    # Operations -------------------------------------------------------------

    def join(
        self,
        *,
        user_id: str,
        name: str,
        role: VisitRole,
        now: float,
        precall: Precall | None = None,
    ) -> Joined:
        """A new peer for `user_id`; an older peer of the same person is replaced."""
        if self.ended:
            raise RoomError("visit_ended", "This visit has ended.")
        same = [p for p in self.peers.values() if p.user_id == user_id]
        self._check_limits(role, {p.peer_id for p in same})
        out = Outcome()
        for old in same:
            out.close(old.peer_id, CLOSE_REPLACED, "joined again elsewhere")
            self._remove(out, old)
        self._orders += 1
        peer = Peer(
            peer_id=self._new_peer_id(), user_id=user_id, name=name, role=role,
            order=self._orders, state="admitted" if role == "clinician" else "waiting",
            precall=precall,
        )
        self.peers[peer.peer_id] = peer
        if peer.admitted:
            self._announce_arrival(out, peer)
            for waiting in self.waiting():
                self._knock(out, waiting, [peer])
        else:
            self._knock(out, peer, self.admitted())
        self._advance(out)
        return Joined(peer, self._visible(peer), out)

    def resume(self, peer_id: str, *, user_id: str, last_seq: int, now: float) -> Joined:
        """Reattach a dropped peer (same id and state) within `RESUME_SECONDS`."""
        peer = self.peers.get(peer_id)
        if (
            self.ended
            or peer is None
            or peer.user_id != user_id
            or (peer.gone_at is not None and now - peer.gone_at > RESUME_SECONDS)
        ):
            raise RoomError("resume_failed", "The previous session cannot be resumed.")
        peer.generation += 1
        peer.connected = True
        peer.gone_at = None
        out = Outcome()
        pending = list(peer.pending)
        peer.pending.clear()
        for message in pending:
            out.send(peer.peer_id, message)
        if peer.admitted:
            for line in self.history:
                if line.seq > last_seq:
                    out.send(peer.peer_id, line)
            if peer.is_clinician:
                for waiting in self.waiting():
                    self._knock(out, waiting, [peer])
        return Joined(peer, self._visible(peer), out, resumed=True)

    def disconnect(self, peer_id: str, *, generation: int, now: float) -> Outcome:
        """The peer's socket dropped: keep it for `RESUME_SECONDS` (stale sockets ignored)."""
        peer = self.peers.get(peer_id)
        if peer is not None and peer.generation == generation and peer.connected:
            peer.connected = False
            peer.gone_at = now
        return Outcome()

    def leave(self, peer_id: str) -> Outcome:
        """The peer leaves for good."""
        out = Outcome()
        peer = self.peers.get(peer_id)
        if peer is not None:
            out.close(peer_id, CLOSE_NORMAL, "left")
            self._remove(out, peer)
        return out

    def remove_user(self, user_id: str) -> Outcome:
        """Disconnect every peer of `user_id` for good (a revoked guest): no resume."""
        out = Outcome()
        for peer in [p for p in self.peers.values() if p.user_id == user_id]:
            out.close(peer.peer_id, CLOSE_REMOVED, "removed")
            self._remove(out, peer)
        return out

    def expire(self, now: float) -> Outcome:
        """Remove the peers that did not resume in time."""
        out = Outcome()
        for peer in list(self.peers.values()):
            if peer.gone_at is not None and now - peer.gone_at > RESUME_SECONDS:
                self._remove(out, peer)
        return out

    def signal(self, sender_id: str, to: str, data: Mapping[str, Any]) -> Outcome:
        """Relay SDP or a candidate verbatim between two admitted peers."""
        sender = self._require(sender_id)
        target = self.peers.get(to)
        if target is None or not target.admitted or target is sender:
            raise RoomError("unknown_peer", "There is no such peer in this visit.")
        out = Outcome()
        self._send(out, target, SignalFrom(from_=sender.peer_id, data=data))
        return out

    def chat(self, sender_id: str, text: str, *, now: float) -> Outcome:
        """Number a chat line and send it to every admitted peer (the sender too)."""
        sender = self._require(sender_id)
        self.seq += 1
        line = ChatFrom(from_=sender.peer_id, text=text, ts=iso_time(now), seq=self.seq,
                        name=sender.name)
        self.history.append(line)
        out = Outcome(chat=line)
        for peer in self.admitted():
            self._send(out, peer, line)
        return out

    def view(self, sender_id: str, view: View, *, now: float) -> Outcome:
        """Looking together: the first admitted peer to show a study leads (or whoever
        takes the lead); the leader's view goes to every other admitted peer. A view from
        a follower that does not take the lead is refused."""
        sender = self._require(sender_id)
        if self.lead is not None and self.lead != sender.peer_id and not view.take_lead:
            raise RoomError("not_leading", "Another participant leads; take the lead first.")
        last = self._last_view.get(sender.peer_id)
        out = Outcome()
        changed = self.lead != sender.peer_id
        if not changed and last is not None and now - last < VIEW_MIN_INTERVAL:
            return out  # faster than any viewer repaints: dropped (the next one follows)
        self._last_view[sender.peer_id] = now
        self.lead = sender.peer_id
        relayed = ViewFrom(from_=sender.peer_id, lead=sender.peer_id,
                           study_uid=view.study_uid, series_uid=view.series_uid,
                           slice=view.slice, zoom=view.zoom, pan_x=view.pan_x,
                           pan_y=view.pan_y, center=view.center, width=view.width)
        for peer in self.admitted(but=sender.peer_id):
            self._send(out, peer, relayed)
        return out

    def _waiting(self, sender_id: str, peer_id: str) -> Peer:
        """The peer `peer_id` waiting for a clinician, `sender_id`, to let in or turn away."""
        self._require(sender_id, clinician=True)
        target = self.peers.get(peer_id)
        if target is None or target.admitted:
            raise RoomError("unknown_peer", "Nobody with this id is waiting.")
        return target

    def admit(self, sender_id: str, peer_id: str) -> Outcome:
        """A clinician lets a waiting peer in."""
        target = self._waiting(sender_id, peer_id)
        target.state = "admitted"
        out = Outcome()
        self._send(out, target, Admitted(participants=self._visible(target)))
        self._announce_arrival(out, target)
        self._advance(out)
        return out

    def deny(self, sender_id: str, peer_id: str) -> Outcome:
        """A clinician turns a waiting peer away."""
        target = self._waiting(sender_id, peer_id)
        out = Outcome()
        self._send(out, target, Denied())
        out.close(target.peer_id, CLOSE_NORMAL, "denied")
        self._remove(out, target)
        return out

    def end(self, sender_id: str) -> Outcome:
        """A clinician ends the visit: everyone is told and disconnected."""
        self._require(sender_id, clinician=True)
        self.ended = True
        out = Outcome()
        for peer in list(self.peers.values()):
            self._send(out, peer, Ended())
            out.close(peer.peer_id, CLOSE_NORMAL, "ended")
        self.peers.clear()
        self._advance(out)
        return out
