"""Room operations shared by the socket handler (`ws.py`) and the cross-process owner
(`cluster.py`): joining (with resume) and applying a client message to a room.

Both paths call these functions, so a visit behaves the same whether its peers are all on
the process holding the room or spread over several processes.
"""

from __future__ import annotations

from dataclasses import dataclass

from telemed.security import TokenError
from telemed.services.turn import ice_servers, pseudonym
from telemed.services.visit_tokens import issue_resume_token, read_resume_token
from telemed.settings import Settings
from telemed.signalling import messages as m
from telemed.signalling.hub import Hub
from telemed.signalling.rooms import Joined, Outcome, Room, RoomError, VisitKind


@dataclass(frozen=True)
class Caller:
    """Who opened the socket, from the join token and the database."""

    visit_id: str
    kind: VisitKind
    user_id: str
    name: str
    role: m.VisitRole


def welcome_frame(settings: Settings, caller: Caller, joined: Joined, last_seq: int) -> str:
    """The `welcome` frame for a peer that joined or resumed."""
    secret = settings.secret_key
    peer = joined.peer
    welcome = m.Welcome(
        peer_id=peer.peer_id,
        resume_token=issue_resume_token(secret, visit_id=caller.visit_id,
                                        user_id=caller.user_id, peer_id=peer.peer_id),
        role=peer.role, state=peer.state, participants=joined.participants,
        ice_servers=ice_servers(settings, pseudonym(secret, caller.visit_id, caller.user_id)),
        resumed=joined.resumed, last_seq=last_seq,
    )
    return m.dump(welcome)


def _resume(settings: Settings, caller: Caller, room: Room, message: m.Join,
            now: float) -> Joined | None:
    assert message.resume_token is not None
    try:
        peer_id = read_resume_token(settings.secret_key, message.resume_token,
                                    visit_id=caller.visit_id, user_id=caller.user_id)
        return room.resume(peer_id, user_id=caller.user_id, last_seq=message.last_seq or 0,
                           now=now)
    except (TokenError, RoomError):
        return None  # too late or not ours: join afresh


async def join_room(hub: Hub, settings: Settings, caller: Caller,
                    message: m.Join) -> tuple[Room, Joined, str]:
    """Resume or join the visit's room: the room, the result and the `welcome` frame.

    Raises `RoomError` (the room is then dropped if it stayed empty).
    """
    room = await hub.room(caller.visit_id, caller.kind)
    now = hub.clock()
    try:
        joined: Joined | None = None
        if message.resume_token is not None:
            joined = _resume(settings, caller, room, message, now)
        if joined is None:
            joined = room.join(user_id=caller.user_id, name=caller.name, role=caller.role,
                               now=now, precall=message.precall)
    except RoomError:
        hub.forget_if_empty(room)
        raise
    return room, joined, welcome_frame(settings, caller, joined, room.seq)


def operate(room: Room, peer_id: str, message: m.ClientMessage, now: float) -> Outcome | None:
    """Apply a joined peer's message to the room (`ping` and `join` are the socket's)."""
    match message:
        case m.Signal(to=to, data=data):
            return room.signal(peer_id, to, data)
        case m.Chat(text=text):
            return room.chat(peer_id, text, now=now)
        case m.View():
            return room.view(peer_id, message, now=now)
        case m.Admit(peer_id=target):
            return room.admit(peer_id, target)
        case m.Deny(peer_id=target):
            return room.deny(peer_id, target)
        case m.Leave():
            return room.leave(peer_id)
        case m.End():
            return room.end(peer_id)
        case m.Join():
            raise RoomError("already_joined", "This connection has already joined.")
    return None
