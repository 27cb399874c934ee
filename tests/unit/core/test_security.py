"""Password hashing, signed tokens, throttling."""

from __future__ import annotations

import time

import pytest

from telemed.security import (
    Throttle,
    TokenError,
    TokenSigner,
    hash_password,
    password_problem,
    same_token,
    verify_password,
)


def test_password_hash_roundtrip() -> None:
    hashed = hash_password("una-password-lunga")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "una-password-lunga")
    assert not verify_password(hashed, "una-password-lungA")
    assert not verify_password("not-a-hash", "x")


@pytest.mark.parametrize(
    ("password", "ok"),
    [("short", False), ("aaaaaaaaaaaa", False), ("mario.rossi-2026", False),
     ("x" * 300, False), ("Tre-gatti-sul-tetto", True)],
)
def test_password_rules(password: str, ok: bool) -> None:
    assert (password_problem(password, username="mario.rossi") is None) is ok


def test_tokens() -> None:
    signer = TokenSigner("k" * 40)
    token = signer.sign("access", {"sub": "u1"}, 60)
    assert signer.verify("access", token)["sub"] == "u1"
    with pytest.raises(TokenError):
        signer.verify("join", token)  # another purpose
    with pytest.raises(TokenError):
        TokenSigner("z" * 40).verify("access", token)  # another key
    with pytest.raises(TokenError):
        signer.verify("access", token + "x")
    for junk in ("", "a.b.c", "nodot", "x" * 5000):
        with pytest.raises(TokenError):
            signer.verify("access", junk)


def test_expired_token(monkeypatch: pytest.MonkeyPatch) -> None:
    signer = TokenSigner("k" * 40)
    token = signer.sign("access", {"sub": "u1"}, 60)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 61)
    with pytest.raises(TokenError, match="expired"):
        signer.verify("access", token)


def test_same_token() -> None:
    assert same_token("abc", "abc")
    assert not same_token("abc", "abd")
    assert not same_token(None, None)
    assert not same_token("", "")


def test_throttle_window() -> None:
    throttle = Throttle(limit=3, window_seconds=10)
    for t in (0.0, 1.0, 2.0):
        assert throttle.blocked_for("ip", now=t) == 0
        throttle.hit("ip", now=t)
    assert throttle.blocked_for("ip", now=3.0) == pytest.approx(7.0)
    assert throttle.blocked_for("other", now=3.0) == 0
    assert throttle.blocked_for("ip", now=10.5) == 0
    throttle.reset("ip")
    assert throttle.blocked_for("ip", now=3.0) == 0


def test_throttle_is_bounded() -> None:
    throttle = Throttle(limit=1, window_seconds=100, max_keys=10)
    for i in range(50):
        throttle.hit(f"k{i}", now=1.0)
    assert len(throttle._hits) == 10


def test_rate_limiter_buckets() -> None:
    from telemed.security import RateLimiter

    limiter = RateLimiter(rate=3, per=60)
    assert [limiter.take("a", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a", now=0.0) == pytest.approx(20.0)
    assert limiter.take("b", now=0.0) == 0.0
    assert limiter.take("a", now=20.0) == 0.0
