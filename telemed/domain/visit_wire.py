"""The visit's wire pieces that the server hands out before the WebSocket opens: the role a
person has in a visit and the RTCIceServer entries (STUN, TURN with credentials).

They are pure values with their validation; `telemed.signalling.messages` carries them in
its frames, the join endpoints and the pre-call test hand them out. An invalid value raises
`MessageError` with a snake_case code (the signalling's error for a bad frame).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

VisitRole = Literal["clinician", "patient", "guest"]
VISIT_ROLES: tuple[VisitRole, ...] = get_args(VisitRole)


class MessageError(ValueError):
    """A frame that is not a valid message; `code` is the snake_case error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def fail(message: str, code: str = "bad_message") -> MessageError:
    """The error of an invalid frame or value."""
    return MessageError(code, message)


@dataclass(frozen=True, slots=True)
class IceServer:
    """One RTCIceServer: STUN or TURN URLs, with credentials for TURN."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.urls, tuple) or not self.urls or not all(
            isinstance(url, str) and url.startswith(("stun:", "stuns:", "turn:", "turns:"))
            for url in self.urls
        ):
            raise fail("ice server urls must be stun:/turn: URLs")
        for name in ("username", "credential"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or len(value) > 512):
                raise fail(f"ice server {name} must be a string")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"urls": list(self.urls)}
        if self.username is not None:
            out["username"] = self.username
        if self.credential is not None:
            out["credential"] = self.credential
        return out

    @classmethod
    def from_dict(cls, data: object) -> IceServer:
        if not isinstance(data, dict):
            raise fail("ice server must be an object")
        urls = data.get("urls")
        if isinstance(urls, str):
            urls = [urls]
        if not isinstance(urls, list):
            raise fail("ice server urls must be a list")
        return cls(urls=tuple(urls), username=data.get("username"),
                   credential=data.get("credential"))
