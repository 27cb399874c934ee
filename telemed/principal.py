"""Who is calling: the authenticated principal, per-route role policies, and what the request
pipeline resolves once for the handlers (the client's address, the CSRF token)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from aiohttp import web
from aiohttp_session import get_session

from telemed import keys
from telemed.errors import forbidden, unauthorized
from telemed.security import client_address, new_csrf_token

Role = Literal["admin", "doctor", "nurse", "patient"]
ROLES: tuple[Role, ...] = ("admin", "doctor", "nurse", "patient")
CLINICIANS: tuple[Role, ...] = ("doctor", "nurse")
STAFF: tuple[Role, ...] = ("admin", "doctor", "nurse")
# Who may read clinical data (care plans, observations): never administrators.
CARE_READERS: tuple[Role, ...] = ("doctor", "nurse", "patient")


@dataclass(frozen=True)
class Principal:
    """An authenticated user as seen by a request."""

    user_id: str
    username: str
    role: Role
    display_name: str
    patient_id: str | None
    via: Literal["bearer", "session", "device"]
    session_id: str | None = None  # the session row of the cookie or token (services/sessions)
    expires_at: float | None = None  # when that credential expires (Unix time)

    @property
    def is_clinician(self) -> bool:
        return self.role in CLINICIANS


PRINCIPAL: web.RequestKey[Principal | None] = web.RequestKey("principal")
CSRF_TOKEN: web.RequestKey[str] = web.RequestKey("csrf_token")
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)

POLICY_ATTR = "telemed_policy"
PUBLIC = "public"


def requires(*roles: Role) -> Callable[[H], H]:
    """Declare which roles may call a handler (enforced by the auth middleware)."""

    def mark(handler: H) -> H:
        setattr(handler, POLICY_ATTR, frozenset(roles))
        return handler

    return mark


def public(handler: H) -> H:
    """Declare a handler open to anonymous callers."""
    setattr(handler, POLICY_ATTR, PUBLIC)
    return handler


def policy_of(handler: object) -> frozenset[str] | str | None:
    """The declared policy of a handler, or None when it has none."""
    policy: frozenset[str] | str | None = getattr(handler, POLICY_ATTR, None)
    return policy


def principal(request: web.Request) -> Principal:
    """The caller; raises 401 when anonymous (handlers behind `requires` always have one)."""
    who: Principal | None = request.get(PRINCIPAL, None)
    if who is None:
        raise unauthorized()
    return who


def check_policy(handler: object, who: Principal | None) -> None:
    """Raise 401/403 unless `who` satisfies the handler's policy."""
    policy = policy_of(handler)
    if policy == PUBLIC:
        return
    if who is None:
        raise unauthorized()
    if policy is None or who.role not in policy:
        raise forbidden()


CLIENT: web.RequestKey[str] = web.RequestKey("client_address")


def client_of(request: web.Request) -> str:
    """The client's address: the peer, or behind a trusted proxy the one it forwarded for."""
    address = request.get(CLIENT)
    if address is None:
        address = client_address(request.remote, request.headers.getall("X-Forwarded-For", []),
                                 request.app[keys.SETTINGS].trusted_proxies)
        request[CLIENT] = address
    return address


async def ensure_csrf_token(request: web.Request) -> str:
    """The session's CSRF token, created on first need (pages with forms)."""
    if request.get(CSRF_TOKEN):
        return request[CSRF_TOKEN]
    session = await get_session(request)
    token = new_csrf_token()
    session["csrf"] = token
    request[CSRF_TOKEN] = token
    return token
