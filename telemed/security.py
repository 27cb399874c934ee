"""Password hashing and policy, signed tokens, CSRF tokens, login backoff, client addresses."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from argon2 import Parameters, PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import RFC_9106_LOW_MEMORY
from zxcvbn import zxcvbn

from telemed.errors import N_

# Argon2id, RFC 9106's second recommendation: 3 passes over 64 MiB, 4 lanes. (The test suite
# swaps `_hasher` for argon2's cheapest parameters; a unit test checks these.)
PASSWORD_HASHING: Parameters = RFC_9106_LOW_MEMORY
_hasher = PasswordHasher.from_parameters(PASSWORD_HASHING)

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256
# zxcvbn scores 0-4; 3 means "safely unguessable: moderate protection from offline attacks"
# (about 10^8 guesses and up). Its dictionaries hold the commonest leaked passwords, names
# and words, so "password1234" or "qwertyuiop12" score 1 and are refused.
MIN_PASSWORD_SCORE = 3
_ESTIMATOR_CHARS = 72  # zxcvbn refuses longer input; the rest only adds strength


def hash_password(password: str) -> str:
    """Argon2id hash of a password (or a device secret)."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when the password matches; never raises on a bad hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_problem(password: str, *, username: str = "",
                     context: Sequence[str] = ()) -> str | None:
    """Why a new password is not acceptable (an English msgid), or None.

    At least 12 characters, not the username, and not common or easily guessed: the zxcvbn
    estimator (with its lists of leaked passwords, names and words, plus `context`, e.g. the
    person's name) must rate it at least 3 of 4.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        return N_("Password must be at least 12 characters long.")
    if len(password) > MAX_PASSWORD_LENGTH:
        return N_("Password is too long.")
    if username and username.lower() in password.lower():
        return N_("Password must not contain the username.")
    inputs = _personal_words((username, *context, "telemed"))
    if zxcvbn(password[:_ESTIMATOR_CHARS], user_inputs=inputs)["score"] < MIN_PASSWORD_SCORE:
        return N_("Password is too common or too easy to guess.")
    return None


def _personal_words(texts: Iterable[str]) -> list[str]:
    """Whole texts and their words (a name's parts are as guessable as the name)."""
    words: list[str] = []
    for text in texts:
        lowered = text.lower()
        words.extend(part for part in (lowered, *re.split(r"[^a-z0-9]+", lowered))
                     if len(part) >= 3)
    return words


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenError(Exception):
    """A token that is malformed, forged, expired or for another purpose."""


# The purpose of the signalling WebSocket's join tokens (telemed.signalling.tokens).
VISIT_JOIN_PURPOSE = "visit-join"


@dataclass(frozen=True)
class TokenSigner:
    """HMAC-SHA256 signed, expiring tokens with a purpose (`aud`)."""

    secret: str

    def _key(self, purpose: str) -> bytes:
        return hmac.new(self.secret.encode(), f"telemed:{purpose}".encode(), "sha256").digest()

    def sign(self, purpose: str, claims: dict[str, Any], ttl_seconds: int) -> str:
        """A token carrying `claims` for `purpose`, valid for `ttl_seconds`."""
        now = int(time.time())
        body = {**claims, "iat": now, "exp": now + ttl_seconds, "n": secrets.token_hex(4)}
        payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
        sig = _b64(hmac.new(self._key(purpose), payload.encode(), hashlib.sha256).digest())
        return f"{payload}.{sig}"

    def verify(self, purpose: str, token: str) -> dict[str, Any]:
        """The claims of a valid token for `purpose`, or TokenError."""
        if not token or len(token) > 4096 or token.count(".") != 1:
            raise TokenError("malformed token")
        payload, sig = token.split(".")
        expected = _b64(hmac.new(self._key(purpose), payload.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(sig, expected):
            raise TokenError("bad signature")
        try:
            claims = json.loads(_unb64(payload))
        except (ValueError, UnicodeDecodeError) as exc:
            raise TokenError("malformed token") from exc
        if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int):
            raise TokenError("malformed token")
        if claims["exp"] < time.time():
            raise TokenError("expired token")
        return claims


def new_csrf_token() -> str:
    """A random token bound to one browser session."""
    return secrets.token_urlsafe(32)


def same_token(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two optional tokens."""
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


class Throttle:
    """Sliding-window failure counter per key (e.g. client address), bounded in memory."""

    def __init__(self, limit: int, window_seconds: float, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window_seconds
        self.max_keys = max_keys
        self._hits: OrderedDict[str, list[float]] = OrderedDict()

    def _recent(self, key: str, now: float) -> list[float]:
        hits = [t for t in self._hits.get(key, []) if now - t < self.window]
        if hits:
            self._hits[key] = hits
            self._hits.move_to_end(key)
        else:
            self._hits.pop(key, None)
        return hits

    def blocked_for(self, key: str, now: float | None = None) -> float:
        """Seconds until `key` may try again (0 when it may)."""
        now = time.monotonic() if now is None else now
        hits = self._recent(key, now)
        if len(hits) < self.limit:
            return 0.0
        return max(0.0, self.window - (now - hits[-self.limit]))

    def hit(self, key: str, now: float | None = None) -> None:
        """Record one failure for `key`."""
        now = time.monotonic() if now is None else now
        self._recent(key, now)
        self._hits.setdefault(key, []).append(now)
        self._hits.move_to_end(key)
        while len(self._hits) > self.max_keys:
            self._hits.popitem(last=False)

    def reset(self, key: str) -> None:
        """Forget the failures of `key` (after a success)."""
        self._hits.pop(key, None)


class Backoff:
    """Failures per key with exponential backoff, bounded in memory.

    The first `free` failures cost nothing; after that the key waits `base * 2**(n - free)`
    seconds (at most `cap`) after its last failure. A key is forgotten `forget_after` seconds
    after its last failure. `reserve` checks and counts in one step (no await in between), so
    parallel requests cannot all pass the check before any of them is counted: an attempt is
    counted as a failure when it starts and given back (`release`) when it turns out not to be
    one.
    """

    def __init__(self, *, free: int, cap: float, base: float = 1.0,
                 forget_after: float = 900.0, max_keys: int = 100_000) -> None:
        self.free = free
        self.cap = cap
        self.base = base
        self.forget_after = forget_after
        self.max_keys = max_keys
        self._state: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def delay(self, failures: int) -> float:
        """Seconds a key with `failures` failures waits after the last one."""
        if failures < self.free:
            return 0.0
        return min(self.cap, self.base * 2.0 ** min(failures - self.free, 60))

    def _current(self, key: str, now: float) -> tuple[int, float]:
        failures, last = self._state.get(key, (0, now))
        if failures and now - last > max(self.forget_after, self.delay(failures)):
            self._state.pop(key, None)
            return 0, now
        return failures, last

    def blocked_for(self, key: str, now: float | None = None) -> float:
        """Seconds until `key` may try again (0 when it may)."""
        now = time.monotonic() if now is None else now
        failures, last = self._current(key, now)
        return max(0.0, last + self.delay(failures) - now) if failures else 0.0

    def reserve(self, key: str, now: float | None = None) -> float:
        """0 and one failure counted when `key` may try now, else the seconds to wait."""
        now = time.monotonic() if now is None else now
        wait = self.blocked_for(key, now)
        if wait > 0:
            return wait
        failures, _ = self._current(key, now)
        self._state[key] = (failures + 1, now)
        self._state.move_to_end(key)
        while len(self._state) > self.max_keys:
            self._state.popitem(last=False)
        return 0.0

    def release(self, key: str) -> None:
        """Give back one counted attempt (it was not a failure)."""
        failures, last = self._state.get(key, (0, 0.0))
        if failures <= 1:
            self._state.pop(key, None)
        else:
            self._state[key] = (failures - 1, last)

    def reset(self, key: str) -> None:
        """Forget every failure of `key`."""
        self._state.pop(key, None)


class LoginGuard:
    """Password attempts limited per client address and per (address, username) pair.

    An attacker flooding one account from one address is slowed by the pair's backoff (and
    by the address's, whatever usernames it tries); a person at another address is not
    affected by either. The account's own, shared backoff lives in the database (see
    ``telemed.services.users.authenticate``) and is capped at a few seconds, so nobody can
    keep the right password out for longer than that.
    """

    def __init__(self, *, per_address: Backoff | None = None,
                 per_pair: Backoff | None = None) -> None:
        self.per_address = per_address or Backoff(free=10, cap=300.0)
        self.per_pair = per_pair or Backoff(free=5, cap=900.0)

    @staticmethod
    def _pair(address: str, username: str) -> str:
        return f"{address}|{username.strip().lower()}"

    def reserve(self, address: str, username: str, now: float | None = None) -> float:
        """0 when this attempt may be evaluated (it is counted), else the seconds to wait."""
        now = time.monotonic() if now is None else now
        pair = self._pair(address, username)
        wait = max(self.per_address.blocked_for(address, now),
                   self.per_pair.blocked_for(pair, now))
        if wait > 0:
            return wait
        self.per_address.reserve(address, now)
        self.per_pair.reserve(pair, now)
        return 0.0

    def release(self, address: str, username: str) -> None:
        """The attempt was not evaluated after all: give it back."""
        self.per_address.release(address)
        self.per_pair.release(self._pair(address, username))

    def succeeded(self, address: str, username: str) -> None:
        """The right password: the pair starts afresh, the address gets its attempt back."""
        self.per_address.release(address)
        self.per_pair.reset(self._pair(address, username))


class FailedCredentials:
    """Digests of credentials that just failed, so a repeat is refused without hashing."""

    def __init__(self, ttl: float = 60.0, max_items: int = 10_000) -> None:
        self.ttl = ttl
        self.max_items = max_items
        self._until: OrderedDict[bytes, float] = OrderedDict()

    @staticmethod
    def _digest(credential: str) -> bytes:
        return hashlib.sha256(credential.encode("utf-8", "surrogatepass")).digest()

    def add(self, credential: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        key = self._digest(credential)
        self._until[key] = now + self.ttl
        self._until.move_to_end(key)
        while len(self._until) > self.max_items:
            self._until.popitem(last=False)

    def __contains__(self, credential: object) -> bool:
        if not isinstance(credential, str):
            return False
        key = self._digest(credential)
        until = self._until.get(key)
        if until is None:
            return False
        if until < time.monotonic():
            self._until.pop(key, None)
            return False
        return True


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("["):  # [v6]:port
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # v4:port
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None,
             proxies: Sequence[Network]) -> bool:
    return address is not None and any(address in network for network in proxies
                                       if network.version == address.version)


def client_address(peer: str | None, forwarded_for: Iterable[str],
                   proxies: Sequence[Network]) -> str:
    """The address of the client behind trusted proxies.

    When the peer is a trusted proxy, `X-Forwarded-For` is read from the right (each proxy
    appends the address it saw) and the first entry that is not itself a trusted proxy is the
    client; entries to its left were written by the client and are ignored. Otherwise the
    header is ignored and the peer is the client.
    """
    peer = peer or ""
    if not proxies or not _trusted(_ip(peer), proxies):
        return peer
    chain = [part.strip() for header in forwarded_for for part in header.split(",")]
    chain = [part for part in chain if part]
    for entry in reversed(chain):
        address = _ip(entry)
        if address is None:
            return entry[:64]  # a proxy wrote something odd: still one key per value
        if not _trusted(address, proxies):
            return str(address)
    first = _ip(chain[0]) if chain else None
    return str(first) if first is not None else peer


class RateLimiter:
    """Token buckets per key: `rate` requests per `per` seconds, bursts up to `rate`."""

    def __init__(self, rate: int, per: float = 60.0, max_keys: int = 100_000) -> None:
        self.capacity = float(rate)
        self.refill = rate / per
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str, now: float | None = None) -> float:
        """Spend one token; 0 when allowed, else the seconds to wait."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.refill)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            wait = 0.0
        else:
            self._buckets[key] = (tokens, now)
            wait = (1.0 - tokens) / self.refill
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait
