"""The TTL caches of the ingest hot path."""

from __future__ import annotations

from telemed.services.context import TtlCache


def test_entries_expire_and_can_be_invalidated() -> None:
    now = [0.0]
    cache: TtlCache[str, int | None] = TtlCache(10, clock=lambda: now[0])
    assert cache.get("a") == (False, None)
    cache.put("a", 1)
    cache.put("b", None)  # a cached "not found"
    assert cache.get("a") == (True, 1)
    assert cache.get("b") == (True, None)
    cache.invalidate("a")
    assert cache.get("a") == (False, None)
    now[0] = 11
    assert cache.get("b") == (False, None)
    cache.put("c", 3)
    cache.invalidate()
    assert cache.get("c") == (False, None)
