"""The images proxy's memory of audited series (docs/teleconsult.md, "Images"): a series is
audited once per credential and window, and a new window or a new login audits it again."""

from __future__ import annotations

from telemed.imaging.cache import StudyAccessCache


def test_a_series_is_audited_once_per_credential_and_window() -> None:
    cache = StudyAccessCache(ttl=120, series_window=1800)
    assert not cache.series_audited("u1:s1", "1.2.3", now=0)
    cache.audit_series("u1:s1", "1.2.3", now=0)
    assert cache.series_audited("u1:s1", "1.2.3", now=1799)
    assert not cache.series_audited("u1:s1", "1.2.3", now=1800)  # the window is over
    assert not cache.series_audited("u1:s2", "1.2.3", now=10)  # another login
    assert not cache.series_audited("u1:s1", "1.2.4", now=10)  # another series
    cache.unaudit_series("u1:s1", "1.2.3")  # the access it claimed was refused
    assert not cache.series_audited("u1:s1", "1.2.3", now=10)
    cache.audit_series("u1:s1", "1.2.3", now=0)
    cache.forget("u1:s1")  # logged out
    assert not cache.series_audited("u1:s1", "1.2.3", now=10)


def test_the_memory_of_series_is_bounded() -> None:
    cache = StudyAccessCache(size=2)
    for n in range(3):
        cache.audit_series("u", f"1.{n}", now=0)
    assert [cache.series_audited("u", f"1.{n}", now=1) for n in range(3)] == [False, True, True]
