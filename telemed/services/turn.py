"""ICE servers for a peer: STUN URLs, and TURN with coturn `use-auth-secret` credentials.

coturn's REST-API scheme (`use-auth-secret` + `static-auth-secret=TELEMED_TURN_SECRET`):
username = "<unix expiry>:<pseudonym>", password = base64(HMAC-SHA1(secret, username)).
coturn checks the HMAC and refuses the username once the expiry has passed. TURN servers
log the username, so the pseudonym is an opaque keyed hash of the visit and the user, never
a name or a fiscal code; only someone holding the secret key can link it back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from telemed.domain.visit_wire import IceServer, VisitRole
from telemed.services.visit_tokens import issue_join_token
from telemed.settings import Settings


def turn_password(secret: str, username: str) -> str:
    """coturn's password for `username`: base64(HMAC-SHA1(secret, username))."""
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def turn_username(pseudonym: str, ttl: int, now: float | None = None) -> str:
    """`<expiry>:<pseudonym>`, the expiry being `ttl` seconds from now."""
    expiry = int(time.time() if now is None else now) + ttl
    return f"{expiry}:{pseudonym}"


def pseudonym(secret_key: str, visit_id: str, user_id: str) -> str:
    """An opaque, stable name for one person in one visit (safe to appear in TURN logs)."""
    mac = hmac.new(secret_key.encode(), f"turn:{visit_id}:{user_id}".encode(), hashlib.sha256)
    return mac.hexdigest()[:20]


def ice_servers(settings: Settings, who: str, now: float | None = None) -> tuple[IceServer, ...]:
    """The RTCIceServer list for the pseudonym `who` (empty when nothing is configured)."""
    servers: list[IceServer] = []
    if settings.stun_urls:
        servers.append(IceServer(urls=tuple(settings.stun_urls)))
    if settings.turn_urls and settings.turn_secret:
        username = turn_username(who, settings.turn_ttl, now)
        servers.append(IceServer(urls=tuple(settings.turn_urls), username=username,
                                 credential=turn_password(settings.turn_secret, username)))
    return tuple(servers)


def join_details(settings: Settings, visit_id: str, user_id: str,
                 role: VisitRole, session_id: str | None = None) -> dict[str, Any]:
    """What a client needs to open the visit's WebSocket (`GET …/join` for people and guests).

    `ws_url` and `token` open the socket; `ice_servers` (with this person's TURN credentials)
    and `ice_transport_policy` configure the browser's RTCPeerConnection. A person's token
    names the session (`session_id`) it was asked with; the socket lives only as long as it.
    """
    base = settings.effective_public_url
    ws_base = "wss://" + base[8:] if base.startswith("https://") else "ws://" + base[7:]
    servers = ice_servers(settings, pseudonym(settings.secret_key, visit_id, user_id))
    return {
        "ws_url": f"{ws_base}/ws/visits/{visit_id}",
        "token": issue_join_token(settings.secret_key, visit_id=visit_id, user_id=user_id,
                                  role=role, session_id=session_id),
        "ice_servers": [server.to_dict() for server in servers],
        "ice_transport_policy": settings.ice_transport_policy,
        "role": role,
    }
