"""The registry of live channels and the account backoff, without a server."""

from __future__ import annotations

import asyncio
import time

from telemed.live_channels import LiveChannels, _apply
from telemed.principal import Principal
from telemed.services.users import ACCOUNT_BACKOFF_CAP, account_delay


def test_account_delay_is_bounded() -> None:
    assert [account_delay(n) for n in range(5)] == [0.0] * 5
    assert [account_delay(n) for n in (5, 6, 7, 8)] == [1.0, 2.0, 4.0, 8.0]
    assert account_delay(50) == account_delay(10_000) == ACCOUNT_BACKOFF_CAP


async def test_channels_end_by_session_by_user_and_at_expiry() -> None:
    registry = LiveChannels()
    ended: dict[str, str] = {}

    def recorder(name: str) -> object:
        return lambda reason: ended.setdefault(name, reason)

    a1 = registry.open_for("alice", "s1", None, recorder("a1"))  # type: ignore[arg-type]
    registry.open_for("alice", "s2", None, recorder("a2"))  # type: ignore[arg-type]
    registry.open_for("bob", "s3", time.time() + 0.05, recorder("b"))  # type: ignore[arg-type]
    assert registry.end("alice", "logout", session_id="s1") == 1
    assert ended == {"a1": "logout"}
    assert registry.end("alice", "logout", session_id="s1") == 0  # once only
    registry.close(a1)  # closing an ended channel is harmless
    # Everything of alice but the session that asked (a password change).
    assert registry.end("alice", "password_changed", except_session="s2") == 0
    _apply(registry, {"user_id": "alice", "session_id": None, "except": None,
                      "reason": "logout_everywhere"})
    assert ended["a2"] == "logout_everywhere"
    await asyncio.sleep(0.1)
    assert ended["b"] == "expired"
    assert registry.by_user == {}


async def test_a_principal_without_a_session_is_not_followed() -> None:
    registry = LiveChannels()
    device = Principal(user_id="d", username="d", role="patient", display_name="d",
                       patient_id=None, via="device")
    assert registry.open(device, lambda reason: None) is None
    assert registry.session_ids() == set()


async def test_keep_only_ends_the_stale() -> None:
    registry = LiveChannels()
    ended: list[str] = []
    registry.open_for("u", "open", None, lambda reason: ended.append("open"))
    registry.open_for("u", "gone", None, lambda reason: ended.append("gone:" + reason))
    assert registry.keep_only({"open"}) == 1
    assert ended == ["gone:revoked"]
    assert registry.session_ids() == {"open"}
