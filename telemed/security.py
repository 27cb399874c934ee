"""Password hashing, signed tokens, CSRF tokens and login throttling."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256


def hash_password(password: str) -> str:
    """Argon2id hash of a password (or a device secret)."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when the password matches; never raises on a bad hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_problem(password: str, *, username: str = "") -> str | None:
    """Why a new password is not acceptable (an English msgid), or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return "Password must be at least 10 characters long."
    if len(password) > MAX_PASSWORD_LENGTH:
        return "Password is too long."
    if username and username.lower() in password.lower():
        return "Password must not contain the username."
    if len(set(password)) < 5:
        return "Password is too simple."
    return None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenError(Exception):
    """A token that is malformed, forged, expired or for another purpose."""


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
