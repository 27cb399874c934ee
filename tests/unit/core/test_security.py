"""Password hashing and policy, signed tokens, throttling and backoff, client addresses."""

from __future__ import annotations

import ipaddress
import time

import pytest
from argon2 import PasswordHasher, Type, extract_parameters

from telemed.security import (
    PASSWORD_HASHING,
    Backoff,
    FailedCredentials,
    LoginGuard,
    Throttle,
    TokenError,
    TokenSigner,
    client_address,
    hash_password,
    password_problem,
    same_token,
    verify_password,
)


def test_production_hashes_at_full_cost() -> None:
    """Production's argon2 parameters (the suite hashes at the cheapest ones: conftest.py), and
    a hash made with them is verified."""
    assert PASSWORD_HASHING.type is Type.ID
    assert PASSWORD_HASHING.memory_cost >= 64 * 1024  # KiB
    assert PASSWORD_HASHING.time_cost >= 3 and PASSWORD_HASHING.parallelism >= 1
    assert PASSWORD_HASHING.salt_len >= 16 and PASSWORD_HASHING.hash_len >= 32
    hashed = PasswordHasher.from_parameters(PASSWORD_HASHING).hash("una-password-lunga")
    assert extract_parameters(hashed) == PASSWORD_HASHING
    assert verify_password(hashed, "una-password-lunga")


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


@pytest.mark.parametrize("password", [
    "abcdefghij",  # the old 10-character minimum
    "abcdefghijk",
    "password1234", "qwertyuiop12", "iloveyou2024", "abcdefghijkl", "123456789012",
    "passwordpassword", "Password2024!",  # common words and patterns, dressed up
    "mrossi-password", "Password-MRossi-1",  # the username inside
    "x" * 200 + "Kq7!",  # what the estimator reads (the first 72 characters) is weak
])
def test_short_common_and_personal_passwords_are_refused(password: str) -> None:
    assert password_problem(password, username="mrossi", context=("Marco Rossi",))


@pytest.mark.parametrize("password", [
    "telemed-demo-2026",  # the demo seed's password (17 characters)
    "correct-horse-battery-9", "Segreto-Lunghissimo-42", "Un-altra-password-lunga-8",
    # longer than the estimator reads (72): judged on its beginning
    "Il-gatto-dorme-sul-divano-rosso-ogni-pomeriggio-dopo-pranzo-e-poi-sogna-il-mare",
])
def test_long_uncommon_passwords_pass(password: str) -> None:
    assert password_problem(password, username="dr.rossi", context=("Dott. Rossi",)) is None


def test_backoff_counts_before_the_check_and_grows_to_its_cap() -> None:
    backoff = Backoff(free=3, cap=8.0, forget_after=100.0)
    assert [backoff.reserve("k", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    # The fourth attempt at the same instant is refused: the three were counted up front.
    assert backoff.reserve("k", now=0.0) == pytest.approx(1.0)
    assert backoff.reserve("k", now=1.0) == 0.0  # 4 failures: next waits 2 s
    assert backoff.blocked_for("k", now=2.0) == pytest.approx(1.0)
    for t in (3.0, 7.0, 15.0, 23.0):  # waits 2, 4, 8, 8 (capped)
        assert backoff.reserve("k", now=t) == 0.0
    assert backoff.blocked_for("k", now=23.0) == pytest.approx(8.0)
    assert backoff.blocked_for("other", now=23.0) == 0.0
    assert backoff.blocked_for("k", now=124.0) == 0.0  # forgotten after 100 s of quiet


def test_backoff_survives_huge_counts() -> None:
    backoff = Backoff(free=1, cap=60.0)
    assert backoff.delay(5_000) == 60.0


def test_backoff_release_and_reset() -> None:
    backoff = Backoff(free=1, cap=60.0)
    assert backoff.reserve("k", now=0.0) == 0.0
    backoff.release("k")  # it was not a failure
    assert backoff.reserve("k", now=0.0) == 0.0
    assert backoff.reserve("k", now=0.0) > 0
    backoff.reset("k")
    assert backoff.reserve("k", now=0.0) == 0.0


def test_login_guard_keeps_a_flood_to_its_own_address() -> None:
    guard = LoginGuard()
    evaluated = sum(guard.reserve("203.0.113.9", "dr.rossi", now=0.0) == 0 for _ in range(40))
    assert evaluated == 5  # per (address, account)
    assert guard.reserve("203.0.113.9", "dr.rossi", now=0.5) > 0
    assert guard.reserve("198.51.100.7", "dr.rossi", now=0.5) == 0.0  # another address
    # Many accounts from one address: the address's own limit stops it at 10.
    tried = sum(guard.reserve("192.0.2.1", f"user{i}", now=0.0) == 0 for i in range(30))
    assert tried == 10


def test_login_guard_success_clears_the_pair_not_the_address() -> None:
    guard = LoginGuard()
    for _ in range(4):
        guard.reserve("192.0.2.1", "mario", now=0.0)
    guard.reserve("192.0.2.1", "mario", now=0.0)
    guard.succeeded("192.0.2.1", "mario")
    assert guard.per_pair.blocked_for("192.0.2.1|mario", now=0.0) == 0.0
    assert guard.per_address.blocked_for("192.0.2.1", now=0.0) == 0.0
    assert guard.per_address._state["192.0.2.1"][0] == 4  # only its own attempt given back


def test_failed_credentials_expire() -> None:
    failed = FailedCredentials(ttl=0.05)
    failed.add("Basic abc")
    assert "Basic abc" in failed
    assert "Basic abd" not in failed
    time.sleep(0.06)
    assert "Basic abc" not in failed


PROXIES = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.0/8"),
           ipaddress.ip_network("::1/128"))


@pytest.mark.parametrize(("peer", "forwarded", "expected"), [
    ("203.0.113.5", ["198.51.100.1"], "203.0.113.5"),  # not a proxy: header ignored
    ("127.0.0.1", [], "127.0.0.1"),  # a proxy that forwarded nothing
    ("127.0.0.1", ["198.51.100.1"], "198.51.100.1"),
    ("127.0.0.1", ["6.6.6.6, 198.51.100.1"], "198.51.100.1"),  # the client's own entry ignored
    ("127.0.0.1", ["6.6.6.6", "198.51.100.1, 10.1.2.3"], "198.51.100.1"),  # two proxies
    ("::1", ["[2001:db8::7]:4711"], "2001:db8::7"),
    ("::ffff:127.0.0.1", ["198.51.100.1:5555"], "198.51.100.1"),
    ("127.0.0.1", ["10.0.0.2, 10.0.0.3"], "10.0.0.2"),  # only proxies: the left-most
    ("127.0.0.1", ["unknown"], "unknown"),
])
def test_client_address(peer: str, forwarded: list[str], expected: str) -> None:
    assert client_address(peer, forwarded, PROXIES) == expected


def test_client_address_without_trusted_proxies_is_the_peer() -> None:
    assert client_address("127.0.0.1", ["198.51.100.1"], ()) == "127.0.0.1"
    assert client_address(None, [], ()) == ""


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
