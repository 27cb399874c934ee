"""Join and resume tokens of the signalling WebSocket (signed, expiring, purpose-bound).

A join token (`GET /api/v1/visits/{id}/join`) names one visit, one user and the user's
role in it, and (for people, not guests) the session row of the cookie or token it was
asked with: the socket opens only while that session is open, and closes when it ends.
It is short-lived because it travels in the WebSocket URL. A resume token
(sent in `welcome`) names the peer id too; the room itself enforces the 30-second resume
window, the token only proves who may take the peer back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast, get_args

from telemed.domain.visit_wire import VisitRole
from telemed.security import VISIT_JOIN_PURPOSE, TokenError, TokenSigner

JOIN_PURPOSE = VISIT_JOIN_PURPOSE
RESUME_PURPOSE = "visit-resume"
JOIN_TTL = 600
RESUME_TTL = 6 * 3600


@dataclass(frozen=True)
class JoinClaims:
    visit_id: str
    user_id: str
    role: VisitRole
    session_id: str | None = None


def issue_join_token(secret: str, *, visit_id: str, user_id: str, role: VisitRole,
                     ttl: int = JOIN_TTL, session_id: str | None = None) -> str:
    claims = {"v": visit_id, "sub": user_id, "r": role}
    if session_id is not None:
        claims["sid"] = session_id
    return TokenSigner(secret).sign(JOIN_PURPOSE, claims, ttl)


def read_join_token(secret: str, token: str) -> JoinClaims:
    """The claims of a valid join token, or TokenError."""
    claims = TokenSigner(secret).verify(JOIN_PURPOSE, token)
    visit_id, user_id, role = claims.get("v"), claims.get("sub"), claims.get("r")
    session_id = claims.get("sid")
    if not isinstance(visit_id, str) or not isinstance(user_id, str) or role not in get_args(
        VisitRole
    ) or not isinstance(session_id, (str, type(None))):
        raise TokenError("malformed token")
    return JoinClaims(visit_id, user_id, cast(VisitRole, role), session_id)


def issue_resume_token(secret: str, *, visit_id: str, user_id: str, peer_id: str) -> str:
    return TokenSigner(secret).sign(
        RESUME_PURPOSE, {"v": visit_id, "sub": user_id, "p": peer_id}, RESUME_TTL
    )


def read_resume_token(secret: str, token: str, *, visit_id: str, user_id: str) -> str:
    """The peer id a valid resume token of this visit and user names, or TokenError."""
    claims = TokenSigner(secret).verify(RESUME_PURPOSE, token)
    peer_id = claims.get("p")
    if claims.get("v") != visit_id or claims.get("sub") != user_id or not isinstance(peer_id, str):
        raise TokenError("token for another visit or user")
    return peer_id
