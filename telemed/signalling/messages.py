"""Signalling wire messages (docs/visits.md, "The protocol"): typed frozen dataclasses, one
parse/dump pair.

Every frame is a JSON object `{"type": ..., ...}`. `parse_client` turns a frame sent by a
browser into a typed message (or raises `MessageError` with a snake_case code);
`parse_server` does the same for frames the server sends (used by Python peers, tests and
benchmarks); `dump` turns any message into its frame. Validation lives in `__post_init__`,
so an invalid message cannot exist. The `data` of a `signal` is relayed verbatim: it is
only checked to be a JSON object (its size is bounded by the frame limit).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal, TypeAlias, cast, get_args

from telemed.domain.json_input import JsonInputError, parse_json
from telemed.domain.text import describe, forbidden_character
from telemed.domain.visit_wire import VISIT_ROLES, IceServer, MessageError, VisitRole
from telemed.domain.visit_wire import fail as _fail

PeerState = Literal["waiting", "admitted"]
Verdict = Literal["good", "fair", "poor", "failed"]
VERDICTS: tuple[Verdict, ...] = get_args(Verdict)

MAX_ID = 64
MAX_TOKEN = 4096
MAX_CHAT = 4000
MAX_NAME = 128
MAX_CODE = 64
MAX_TEXT = 500
MAX_PARTICIPANTS = 16
MAX_ICE_SERVERS = 8
MAX_DEPTH = 32  # nesting of a frame (SDP and ICE candidates need 3)


def _check_id(value: object, name: str) -> None:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID:
        raise _fail(f"{name} must be a string of 1 to {MAX_ID} characters")


def _check_text(value: object, name: str, limit: int, *, empty: bool = False) -> None:
    if not isinstance(value, str) or len(value) > limit or (not empty and not value.strip()):
        raise _fail(f"{name} must be a non-empty string of at most {limit} characters")


def _check_int(value: object, name: str, *, low: int = 0) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise _fail(f"{name} must be a whole number of at least {low}")


def _check_bool(value: object, name: str) -> None:
    if not isinstance(value, bool):
        raise _fail(f"{name} must be true or false")


# Parts -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Precall:
    """The outcome of a patient's pre-call test, shown to clinicians with the knock."""

    verdict: Verdict
    rtt_ms: float | None = None
    audio: bool = False
    video: bool = False

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise _fail(f"precall.verdict must be one of {', '.join(VERDICTS)}")
        if self.rtt_ms is not None and (
            isinstance(self.rtt_ms, bool)
            or not isinstance(self.rtt_ms, int | float)
            or not math.isfinite(self.rtt_ms)
            or not 0 <= self.rtt_ms <= 60_000
        ):
            raise _fail("precall.rtt_ms must be a number from 0 to 60000")
        _check_bool(self.audio, "precall.audio")
        _check_bool(self.video, "precall.video")

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "rtt_ms": self.rtt_ms, "audio": self.audio,
                "video": self.video}

    @classmethod
    def from_dict(cls, data: object) -> Precall:
        raw = _object(data, "precall")
        _only(raw, {"verdict", "rtt_ms", "audio", "video"}, "precall")
        return cls(verdict=raw.get("verdict"), rtt_ms=raw.get("rtt_ms"),  # type: ignore[arg-type]
                   audio=raw.get("audio", False), video=raw.get("video", False))


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """Another participant as a peer sees it (never a fiscal code, only a display name)."""

    peer_id: str
    role: VisitRole
    name: str
    polite: bool | None = None  # set in `welcome`/`admitted` participant lists

    def __post_init__(self) -> None:
        _check_id(self.peer_id, "peer.peer_id")
        if self.role not in VISIT_ROLES:
            raise _fail("peer.role is not a visit role")
        _check_text(self.name, "peer.name", MAX_NAME, empty=True)
        if self.polite is not None:
            _check_bool(self.polite, "peer.polite")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"peer_id": self.peer_id, "role": self.role, "name": self.name}
        if self.polite is not None:
            out["polite"] = self.polite
        return out

    @classmethod
    def from_dict(cls, data: object) -> PeerInfo:
        raw = _object(data, "peer")
        _only(raw, {"peer_id", "role", "name", "polite"}, "peer")
        return cls(peer_id=raw.get("peer_id"), role=raw.get("role"),  # type: ignore[arg-type]
                   name=raw.get("name", ""), polite=raw.get("polite"))


# Client → server ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Join:
    """First frame of a connection; `resume_token` resumes a dropped peer within 30 s."""

    TYPE: ClassVar[str] = "join"
    resume_token: str | None = None
    last_seq: int | None = None
    precall: Precall | None = None

    def __post_init__(self) -> None:
        if self.resume_token is not None and (
            not isinstance(self.resume_token, str) or not 0 < len(self.resume_token) <= MAX_TOKEN
        ):
            raise _fail("resume_token must be a non-empty string")
        if self.last_seq is not None:
            _check_int(self.last_seq, "last_seq")
        if self.precall is not None and not isinstance(self.precall, Precall):
            raise _fail("precall must be an object")


@dataclass(frozen=True, slots=True)
class Signal:
    """An SDP or ICE candidate for one peer: `data` is relayed verbatim."""

    TYPE: ClassVar[str] = "signal"
    to: str
    data: Mapping[str, Any]

    def __post_init__(self) -> None:
        _check_id(self.to, "to")
        if not isinstance(self.data, Mapping) or not self.data:
            raise _fail("data must be a non-empty object")


@dataclass(frozen=True, slots=True)
class Chat:
    """A chat line from a peer."""

    TYPE: ClassVar[str] = "chat"
    text: str

    def __post_init__(self) -> None:
        _check_text(self.text, "text", MAX_CHAT)
        bad = forbidden_character(self.text.replace("\r\n", "\n"), multiline=True)
        if bad is not None:
            raise MessageError("invalid_text", f"text contains a character that is not allowed "
                               f"({describe(bad)})")


@dataclass(frozen=True, slots=True)
class Admit:
    """A clinician lets a waiting peer in."""

    TYPE: ClassVar[str] = "admit"
    peer_id: str

    def __post_init__(self) -> None:
        _check_id(self.peer_id, "peer_id")


@dataclass(frozen=True, slots=True)
class Deny:
    """A clinician turns a waiting peer away."""

    TYPE: ClassVar[str] = "deny"
    peer_id: str

    def __post_init__(self) -> None:
        _check_id(self.peer_id, "peer_id")


@dataclass(frozen=True, slots=True)
class Leave:
    """The peer leaves for good (no resume)."""

    TYPE: ClassVar[str] = "leave"


@dataclass(frozen=True, slots=True)
class End:
    """A clinician ends the visit for everyone."""

    TYPE: ClassVar[str] = "end"


@dataclass(frozen=True, slots=True)
class Ping:
    """Keep-alive; answered with `pong`."""

    TYPE: ClassVar[str] = "ping"


MAX_SLICE = 10_000
MAX_PAN = 100_000.0
MAX_WINDOW = 65_536.0


def _check_uid(value: object, name: str) -> None:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID or not all(
            ch.isdigit() or ch == "." for ch in value):
        raise _fail(f"{name} must be a DICOM UID (digits and dots, at most {MAX_ID})")


def _check_number(value: object, name: str, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or not low <= value <= high:
        raise _fail(f"{name} must be a number from {low:g} to {high:g}")


@dataclass(frozen=True, slots=True)
class ViewState:
    """An image viewer's state: study, series, slice, zoom, pan and window (the part of
    `view` both directions share)."""

    study_uid: str
    series_uid: str
    slice: int
    zoom: float = 1.0
    pan_x: float = 0.0
    pan_y: float = 0.0
    center: float = 40.0
    width: float = 400.0

    def __post_init__(self) -> None:
        _check_uid(self.study_uid, "study_uid")
        _check_uid(self.series_uid, "series_uid")
        _check_int(self.slice, "slice")
        if self.slice > MAX_SLICE:
            raise _fail(f"slice must be at most {MAX_SLICE}")
        _check_number(self.zoom, "zoom", 0.1, 20.0)
        _check_number(self.pan_x, "pan_x", -MAX_PAN, MAX_PAN)
        _check_number(self.pan_y, "pan_y", -MAX_PAN, MAX_PAN)
        _check_number(self.center, "center", -MAX_WINDOW, MAX_WINDOW)
        _check_number(self.width, "width", 1.0, MAX_WINDOW)


@dataclass(frozen=True, slots=True)
class View(ViewState):
    """What a participant's image viewer shows (looking together, docs/teleconsult.md):
    the leader's view is relayed to the others; `take_lead` makes the sender the leader."""

    TYPE: ClassVar[str] = "view"
    take_lead: bool = False

    def __post_init__(self) -> None:
        ViewState.__post_init__(self)
        _check_bool(self.take_lead, "take_lead")


ClientMessage: TypeAlias = Join | Signal | Chat | Admit | Deny | Leave | End | Ping | View


# Server → client ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Welcome:
    """Answer to `join`: who the peer is and whom it can see."""

    TYPE: ClassVar[str] = "welcome"
    peer_id: str
    resume_token: str
    role: VisitRole
    state: PeerState
    participants: tuple[PeerInfo, ...] = ()
    ice_servers: tuple[IceServer, ...] = ()
    resumed: bool = False
    last_seq: int = 0

    def __post_init__(self) -> None:
        _check_id(self.peer_id, "peer_id")
        _check_text(self.resume_token, "resume_token", MAX_TOKEN)
        if self.role not in VISIT_ROLES:
            raise _fail("role is not a visit role")
        if self.state not in ("waiting", "admitted"):
            raise _fail("state must be waiting or admitted")
        _check_parts(self.participants, PeerInfo, "participants", MAX_PARTICIPANTS)
        _check_parts(self.ice_servers, IceServer, "ice_servers", MAX_ICE_SERVERS)
        _check_bool(self.resumed, "resumed")
        _check_int(self.last_seq, "last_seq")


@dataclass(frozen=True, slots=True)
class Knock:
    """A patient or guest is in the waiting room (sent to clinicians)."""

    TYPE: ClassVar[str] = "knock"
    peer: PeerInfo
    precall: Precall | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.peer, PeerInfo):
            raise _fail("peer must be an object")
        if self.precall is not None and not isinstance(self.precall, Precall):
            raise _fail("precall must be an object")


@dataclass(frozen=True, slots=True)
class Admitted:
    """The waiting peer was let in; `participants` are the peers it now sees."""

    TYPE: ClassVar[str] = "admitted"
    participants: tuple[PeerInfo, ...] = ()

    def __post_init__(self) -> None:
        _check_parts(self.participants, PeerInfo, "participants", MAX_PARTICIPANTS)


@dataclass(frozen=True, slots=True)
class Denied:
    """The waiting peer was turned away; the server closes the socket."""

    TYPE: ClassVar[str] = "denied"


@dataclass(frozen=True, slots=True)
class PeerJoined:
    """A peer became visible; `polite` is the receiver's role towards it."""

    TYPE: ClassVar[str] = "peer-joined"
    peer: PeerInfo
    polite: bool

    def __post_init__(self) -> None:
        if not isinstance(self.peer, PeerInfo):
            raise _fail("peer must be an object")
        _check_bool(self.polite, "polite")


@dataclass(frozen=True, slots=True)
class PeerLeft:
    """A peer left (or a knocking peer went away)."""

    TYPE: ClassVar[str] = "peer-left"
    peer_id: str

    def __post_init__(self) -> None:
        _check_id(self.peer_id, "peer_id")


@dataclass(frozen=True, slots=True)
class SignalFrom:
    """A relayed `signal` (`from` on the wire)."""

    TYPE: ClassVar[str] = "signal"
    from_: str
    data: Mapping[str, Any]

    def __post_init__(self) -> None:
        _check_id(self.from_, "from")
        if not isinstance(self.data, Mapping) or not self.data:
            raise _fail("data must be a non-empty object")


@dataclass(frozen=True, slots=True)
class ChatFrom:
    """A numbered chat line (`from` on the wire); `ts` is ISO 8601 with offset."""

    TYPE: ClassVar[str] = "chat"
    from_: str
    text: str
    ts: str
    seq: int
    name: str = ""

    def __post_init__(self) -> None:
        _check_id(self.from_, "from")
        _check_text(self.text, "text", MAX_CHAT)
        _check_text(self.ts, "ts", 40)
        _check_int(self.seq, "seq", low=1)
        _check_text(self.name, "name", MAX_NAME, empty=True)


@dataclass(frozen=True, slots=True)
class Ended:
    """A clinician ended the visit; the server closes every socket."""

    TYPE: ClassVar[str] = "ended"


@dataclass(frozen=True, slots=True)
class Pong:
    """Answer to `ping`."""

    TYPE: ClassVar[str] = "pong"


@dataclass(frozen=True, slots=True)
class Error:
    """A refused frame: `code` is snake_case, `message` is English."""

    TYPE: ClassVar[str] = "error"
    code: str
    message: str

    def __post_init__(self) -> None:
        _check_text(self.code, "code", MAX_CODE)
        _check_text(self.message, "message", MAX_TEXT)


@dataclass(frozen=True, slots=True)
class ViewFrom(ViewState):
    """The leader's view (`from` on the wire), relayed to the other admitted peers;
    `lead` is the peer that leads now (both required: their defaults are refused)."""

    TYPE: ClassVar[str] = "view"
    from_: str = ""
    lead: str = ""

    def __post_init__(self) -> None:
        ViewState.__post_init__(self)
        _check_id(self.from_, "from")
        _check_id(self.lead, "lead")


ServerMessage: TypeAlias = (
    Welcome | Knock | Admitted | Denied | PeerJoined | PeerLeft | SignalFrom | ChatFrom
    | Ended | Pong | Error | ViewFrom
)
Message: TypeAlias = ClientMessage | ServerMessage


# Parse / dump ------------------------------------------------------------

_WIRE_NAMES = {"from_": "from"}
_PY_NAMES = {v: k for k, v in _WIRE_NAMES.items()}
_CLIENT: dict[str, type[Any]] = {
    cls.TYPE: cls for cls in (Join, Signal, Chat, Admit, Deny, Leave, End, Ping, View)
}
_SERVER: dict[str, type[Any]] = {
    cls.TYPE: cls for cls in (Welcome, Knock, Admitted, Denied, PeerJoined, PeerLeft,
                              SignalFrom, ChatFrom, Ended, Pong, Error, ViewFrom)
}
# Fields holding nested parts, and how to read them.
_PARTS: dict[str, Any] = {
    "precall": Precall.from_dict,
    "peer": PeerInfo.from_dict,
    "participants": lambda v: tuple(PeerInfo.from_dict(x) for x in _list(v, "participants")),
    "ice_servers": lambda v: tuple(IceServer.from_dict(x) for x in _list(v, "ice_servers")),
}


def _object(data: object, name: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _fail(f"{name} must be an object")
    return data


def _list(data: object, name: str) -> list[Any]:
    if not isinstance(data, list) or len(data) > MAX_PARTICIPANTS:
        raise _fail(f"{name} must be a list of at most {MAX_PARTICIPANTS} items")
    return data


def _only(raw: Mapping[str, Any], allowed: set[str], name: str) -> None:
    extra = set(raw) - allowed
    if extra:
        raise _fail(f"{name} has unknown field {sorted(extra)[0]!r}")


def _check_parts(value: object, kind: type, name: str, limit: int) -> None:
    if not isinstance(value, tuple) or len(value) > limit or not all(
        isinstance(item, kind) for item in value
    ):
        raise _fail(f"{name} must be a list of at most {limit} items")


def _parse(text: str | bytes, registry: Mapping[str, type[Any]]) -> Any:
    try:
        raw = parse_json(text, max_depth=MAX_DEPTH)
    except JsonInputError as exc:
        raise MessageError("bad_json", f"the frame is not acceptable JSON: {exc.message}"
                           ) from None
    if not isinstance(raw, dict):
        raise _fail("a frame must be a JSON object")
    kind = raw.get("type")
    cls = registry.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise MessageError("unknown_type", f"unknown message type {str(kind)[:40]!r}")
    names = {f.name for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "type":
            continue
        name = _PY_NAMES.get(key, key)
        if name not in names:
            raise _fail(f"{kind} has unknown field {key[:40]!r}")
        if value is None:
            continue
        kwargs[name] = _PARTS[name](value) if name in _PARTS else value
    try:
        return cls(**kwargs)
    except TypeError:
        missing = sorted(f.name for f in fields(cls) if f.name not in kwargs)
        raise _fail(f"{kind} misses a field ({', '.join(missing)})") from None


def parse_client(text: str | bytes) -> ClientMessage:
    """The typed message of a frame sent by a client, or MessageError."""
    return cast(ClientMessage, _parse(text, _CLIENT))


def parse_server(text: str | bytes) -> ServerMessage:
    """The typed message of a frame sent by the server, or MessageError."""
    return cast(ServerMessage, _parse(text, _SERVER))


def _wire(value: Any) -> Any:
    if isinstance(value, Precall | PeerInfo | IceServer):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_wire(item) for item in value]
    if isinstance(value, Mapping):
        return dict(value)
    return value


def to_dict(message: Message) -> dict[str, Any]:
    """The JSON object of a message (optional fields that are None are left out)."""
    out: dict[str, Any] = {"type": message.TYPE}
    for f in fields(message):
        value = getattr(message, f.name)
        if value is None:
            continue
        out[_WIRE_NAMES.get(f.name, f.name)] = _wire(value)
    return out


def dump(message: Message) -> str:
    """The text frame of a message."""
    return json.dumps(to_dict(message), ensure_ascii=False, separators=(",", ":"))


def dump_once(message: Message, dumped: dict[int, str]) -> str:
    """`dump(message)`, once for each message object of a delivery (`dumped` keeps them):
    a message sent to every peer of a room is encoded once."""
    frame = dumped.get(id(message))
    if frame is None:
        frame = dumped[id(message)] = dump(message)
    return frame


__all__ = [
    "VERDICTS",
    "VISIT_ROLES",
    "Admit",
    "Admitted",
    "Chat",
    "ChatFrom",
    "ClientMessage",
    "Denied",
    "Deny",
    "End",
    "Ended",
    "Error",
    "IceServer",
    "Join",
    "Knock",
    "Leave",
    "Message",
    "MessageError",
    "PeerInfo",
    "PeerJoined",
    "PeerLeft",
    "PeerState",
    "Ping",
    "Pong",
    "Precall",
    "ServerMessage",
    "Signal",
    "SignalFrom",
    "Verdict",
    "View",
    "ViewFrom",
    "ViewState",
    "VisitRole",
    "Welcome",
    "dump",
    "dump_once",
    "parse_client",
    "parse_server",
    "to_dict",
]
