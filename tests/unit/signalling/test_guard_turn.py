"""Abuse limits and TURN credentials."""

from __future__ import annotations

import base64
import hashlib
import hmac

from telemed.services.turn import ice_servers, pseudonym, turn_password, turn_username
from telemed.settings import load_settings
from telemed.signalling.guard import Strikes, TokenBucket, frame_too_large
from telemed.signalling.ws import origin_allowed


def test_token_bucket_refuses_bursts_and_refills() -> None:
    bucket = TokenBucket(rate=10, burst=5, tokens=5)
    assert [bucket.take(0.0) for _ in range(6)] == [True] * 5 + [False]
    assert bucket.take(0.1) is True  # one token back after 100 ms
    assert bucket.take(0.1) is False


def test_strikes_close_after_the_limit_within_the_window() -> None:
    strikes = Strikes(limit=3, window=10)
    assert not strikes.hit(0) and not strikes.hit(1)
    assert not strikes.hit(20)  # the first two fell out of the window
    assert not strikes.hit(21) and strikes.hit(22)


def test_frame_size_counts_utf8_bytes() -> None:
    assert not frame_too_large("x" * 100, limit=100)
    assert frame_too_large("x" * 101, limit=100)
    assert frame_too_large("é" * 51, limit=100)  # 102 bytes


def test_turn_credentials_follow_coturn_rest_scheme() -> None:
    username = turn_username("abc123", 3600, now=1_000)
    assert username == "4600:abc123"
    expected = base64.b64encode(hmac.new(b"s3cret", b"4600:abc123", hashlib.sha1).digest())
    assert turn_password("s3cret", username) == expected.decode()


def test_pseudonym_is_opaque_and_stable() -> None:
    first = pseudonym("key" * 12, "visit", "user")
    assert first == pseudonym("key" * 12, "visit", "user") != pseudonym("key" * 12, "v2", "user")
    assert "user" not in first and len(first) == 20


def test_ice_servers_from_settings(tmp_path: object) -> None:
    settings = load_settings(env="test", secret_key="k" * 40, data_dir=str(tmp_path),
                             stun_urls="stun:stun.example:3478",
                             turn_urls="turn:turn.example:3478?transport=udp,turns:turn.example:5349",
                             turn_secret="shh", turn_ttl=600)
    stun, turn = ice_servers(settings, "pseudo", now=100)
    assert stun.urls == ("stun:stun.example:3478",) and stun.username is None
    assert turn.urls == ("turn:turn.example:3478?transport=udp", "turns:turn.example:5349")
    assert turn.username == "700:pseudo"
    assert turn.credential == turn_password("shh", "700:pseudo")
    bare = load_settings(env="test", secret_key="k" * 40, data_dir=str(tmp_path))
    assert ice_servers(bare, "pseudo") == ()


def test_origin_check() -> None:
    site = "https://telemed.example"
    assert origin_allowed("https://telemed.example", site)
    assert origin_allowed("https://TELEMED.example:443", site + "/")
    assert not origin_allowed("http://telemed.example", site)
    assert not origin_allowed("https://telemed.example.evil.com", site)
    assert not origin_allowed("null", site)
    assert not origin_allowed(None, site)
    assert origin_allowed("http://127.0.0.1:8080", "http://127.0.0.1:8080")
    assert not origin_allowed("http://127.0.0.1:8081", "http://127.0.0.1:8080")
