"""The daily digest's pure rules: choices, the time, and when a summary is due (DST days)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from telemed.domain import digest
from telemed.notify import kinds

ROME = ZoneInfo("Europe/Rome")
AT = time(7, 30)


def _local(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ROME).astimezone(UTC)


def test_the_time_is_hh_mm() -> None:
    assert digest.parse_time("07:30") == time(7, 30)
    assert digest.parse_time("23:59") == time(23, 59)
    for bad in ("7:30", "24:00", "07:60", "0730", " 07:30", "07:30:00", "", None, 730):
        with pytest.raises(ValueError):
            digest.parse_time(bad)
    assert digest.stored_time(None) == digest.DEFAULT_TIME == time(7, 30)
    assert digest.stored_time("garbage") == digest.DEFAULT_TIME
    assert digest.stored_time("18:05") == time(18, 5)


def test_choice_errors_name_each_field_with_a_code() -> None:
    errors = kinds.delivery_errors(
        {"sms_spam": "digest", "teleconsult_urgent": "digest", "alert_escalated": "digest",
         "alert_critical": "digest", "visit_reminder": "digest", "document_cosign": "weekly"},
        "25:00", time_given=True)
    assert {path: e.code for path, e in errors.items()} == {
        "notify_delivery.sms_spam": "unknown_kind",
        "notify_delivery.teleconsult_urgent": "not_digestible",
        "notify_delivery.alert_escalated": "not_digestible",
        "notify_delivery.alert_critical": "not_digestible",
        "notify_delivery.visit_reminder": "not_digestible",
        "notify_delivery.document_cosign": "invalid_choice",
        "digest_time": "invalid_time"}
    # Every kind may be sent right away; the routine ones may wait.
    assert kinds.delivery_errors({k: "immediate" for k in kinds.KINDS}) == {}
    assert kinds.delivery_errors({k: "digest" for k in kinds.DIGESTIBLE}, "06:00",
                                 time_given=True) == {}


def test_mandatory_and_urgent_kinds_are_never_digestible() -> None:
    assert kinds.MANDATORY.isdisjoint(kinds.DIGESTIBLE)
    assert "alert_critical" not in kinds.DIGESTIBLE
    assert set(kinds.KINDS) >= kinds.DIGESTIBLE


def test_choices_merge_and_ignore_what_is_not_digestible() -> None:
    held = kinds.digest_kinds(None, {"teleconsult_request": "digest",
                                     "document_cosign": "digest"})
    assert held == ["document_cosign", "teleconsult_request"]
    held = kinds.digest_kinds(held, {"document_cosign": "immediate"})
    assert held == ["teleconsult_request"]
    # something stored that may no longer wait (or is garbage) is dropped
    assert kinds.digest_kinds(["alert_escalated", "teleconsult_update", 3], {}) == [
        "teleconsult_update"]
    assert kinds.digest_kinds("not a list") == []
    deliveries = kinds.deliveries(["teleconsult_update"])
    assert deliveries["teleconsult_update"] == "digest"
    assert deliveries["alert_escalated"] == "immediate"
    assert set(deliveries) == set(kinds.KINDS)


def test_next_digest_is_the_next_local_time_strictly_after() -> None:
    assert digest.next_digest_at(_local(2026, 6, 10, 7, 29), AT, ROME) == _local(2026, 6, 10,
                                                                                 7, 30)
    assert digest.next_digest_at(_local(2026, 6, 10, 7, 30), AT, ROME) == _local(2026, 6, 11,
                                                                                 7, 30)
    assert digest.next_digest_at(_local(2026, 6, 10, 23, 59), AT, ROME) == _local(2026, 6, 11,
                                                                                  7, 30)


@pytest.mark.parametrize(("evening", "hours"), [
    ((2026, 3, 27, 20, 0), 23),  # spring forward (the 29th): the night lasts an hour less
    ((2026, 10, 23, 20, 0), 25),  # fall back (the 25th): an hour more
    ((2026, 6, 10, 20, 0), 24),
])
def test_dst_change_days_keep_the_local_time(evening: tuple[int, ...], hours: int) -> None:
    first = digest.next_digest_at(_local(*evening), AT, ROME)
    second = digest.next_digest_at(first, AT, ROME)
    assert first.astimezone(ROME).time() == second.astimezone(ROME).time() == AT
    assert second - first == timedelta(hours=hours)


def test_a_time_skipped_or_repeated_by_the_clock_change() -> None:
    # 29 March 2026: 02:00 jumps to 03:00; 02:30 does not exist and is sent at 03:30 (CEST)
    skipped = digest.next_digest_at(_local(2026, 3, 28, 22, 0), time(2, 30), ROME)
    assert skipped == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert skipped.astimezone(ROME).time() == time(3, 30)
    # 25 October 2026: 02:30 happens twice; the summary goes at the first, once
    repeated = digest.next_digest_at(_local(2026, 10, 24, 22, 0), time(2, 30), ROME)
    assert repeated == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    after = digest.next_digest_at(repeated, time(2, 30), ROME)
    assert after == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)  # next day, not an hour later


def test_a_held_notification_is_due_at_the_next_digest_time_or_at_once() -> None:
    now = _local(2026, 6, 10, 12, 0)
    assert digest.due_at(_local(2026, 6, 10, 9, 0), True, AT, ROME, now) == _local(
        2026, 6, 11, 7, 30)
    assert digest.due_at(_local(2026, 6, 10, 7, 0), True, AT, ROME, now) == _local(
        2026, 6, 10, 7, 30)  # due already: the next pass makes it
    # a kind switched back to right away: due at once, whenever it was held
    assert digest.due_at(_local(2026, 6, 10, 9, 0), False, AT, ROME, now) == now


@pytest.mark.parametrize(("first", "days", "at"), [
    ((2026, 3, 26, 20, 0), 5, time(2, 30)),  # the spring change skips 02:30
    ((2026, 10, 22, 20, 0), 5, time(2, 30)),  # the autumn change repeats it
    ((2026, 10, 23, 7, 30), 4, AT),  # held at a digest time: due at the next one
    ((2026, 6, 10, 9, 0), 0, AT),  # one day: one time
])
def test_digest_times_date_every_instant_between_as_next_digest_at_does(
        first: tuple[int, ...], days: int, at: time) -> None:
    start = _local(*first)
    end = start + timedelta(days=days, hours=3)
    times = digest.digest_times(start, end, at, ROME)
    assert times == sorted(set(times)) and times[-1] > end
    assert times[0] == digest.next_digest_at(start, at, ROME)
    held = start
    while held <= end:
        assert next(t for t in times if t > held) == digest.next_digest_at(held, at, ROME), held
        held += timedelta(minutes=10)
    for t in times:  # the instants themselves: due at the following one
        if t <= end:
            assert next(u for u in times if u > t) == digest.next_digest_at(t, at, ROME)
