"""Booking: a clinician's weekly availability, its days off, and the free slots they leave.

Availability is given in the service's local time ("Mondays 09:00–12:00, 20-minute
televisits"), so a slot at 09:00 stays at 09:00 by the clock across a DST change. A slot
is ``slot_minutes`` of real time from its local start; the last slot of a rule ends at or
before the rule's end. On the spring-forward day a start that falls in the gap (02:00–02:59
in Europe/Rome) does not exist and gives no slot; on the fall-back day an ambiguous start
gives one slot, at its first occurrence.

A slot is named by its clinician and its UTC start (`slot_id`), so it needs no row until
it is booked; the booking row's unique (clinician, start) is what makes two bookings of
one slot impossible.

Pure functions: the time (``now``) and the zone are arguments.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, Literal
from zoneinfo import ZoneInfo

MIN_SLOT, MAX_SLOT = 5, 240
MAX_RANGE = timedelta(days=62)  # the longest span one slot listing covers
BOOKABLE_KINDS = ("televisit", "teleassistance")

_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_SLOT_ID = re.compile(r"^([0-9a-f]{1,40})-(\d{12})$")


@dataclass(frozen=True, slots=True)
class WeeklyRule:
    """Every `weekday` (Monday 0) from `start` to `end`, local time, in `slot_minutes` slots."""

    weekday: int
    start: time
    end: time
    slot_minutes: int
    kind: str


@dataclass(frozen=True, slots=True)
class DayOff:
    """No slot on the local days `first` to `last` (inclusive)."""

    first: date
    last: date


@dataclass(frozen=True, slots=True, order=True)
class Slot:
    """A span of a clinician's time that can hold one visit (UTC, half-open)."""

    start: datetime
    end: datetime
    kind: str


def parse_time(text: str) -> time | None:
    """``HH:MM`` as a time, or None when malformed."""
    match = _TIME.match(text)
    return time(int(match[1]), int(match[2])) if match else None


def rule_errors(weekday: int, start: str, end: str, slot_minutes: int,
                kind: str) -> dict[str, str]:
    """What is wrong with a weekly rule as given (field → English message); empty if fine."""
    errors: dict[str, str] = {}
    if not 0 <= weekday <= 6:
        errors["weekday"] = "Weekday must be from 0 (Monday) to 6 (Sunday)."
    begins, ends = parse_time(start), parse_time(end)
    if begins is None:
        errors["start"] = "Give the time as HH:MM."
    if ends is None:
        errors["end"] = "Give the time as HH:MM."
    if not MIN_SLOT <= slot_minutes <= MAX_SLOT:
        errors["slot_minutes"] = "Slots last from 5 to 240 minutes."
    if kind not in BOOKABLE_KINDS:
        errors["kind"] = "Kind must be televisit or teleassistance."
    if begins is not None and ends is not None and "slot_minutes" not in errors:
        length = _minutes(ends) - _minutes(begins)
        if length < slot_minutes:
            errors["end"] = "The end must be at least one slot after the start."
    return errors


def _minutes(value: time) -> int:
    return value.hour * 60 + value.minute


def overlaps(rule: WeeklyRule, others: Iterable[WeeklyRule]) -> bool:
    """Whether `rule` shares any time of its weekday with one of `others`."""
    return any(other.weekday == rule.weekday and other.start < rule.end
               and rule.start < other.end for other in others)


def _local_start(day: date, at: time, zone: ZoneInfo) -> datetime | None:
    """The instant a local wall time happens on `day` (its first occurrence), or None when
    the clock skips it (the spring-forward gap)."""
    local = datetime.combine(day, at, zone)  # fold=0: the first of two occurrences
    back = local.astimezone(UTC).astimezone(zone)
    if (back.date(), back.time()) != (day, at):
        return None
    return local.astimezone(UTC)


def candidate_slots(rules: Sequence[WeeklyRule], days_off: Sequence[DayOff], timezone: str,
                    since: datetime, until: datetime) -> list[Slot]:
    """Every slot the rules make that starts in ``[since, until)``, days off left out,
    in time order (overlapping rules are refused on entry, so no two slots coincide)."""
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("since and until must be timezone-aware")
    zone = ZoneInfo(timezone)
    first = since.astimezone(zone).date() - timedelta(days=1)
    last = until.astimezone(zone).date()
    found: set[Slot] = set()
    day = first
    while day <= last:
        if not any(off.first <= day <= off.last for off in days_off):
            for rule in rules:
                if rule.weekday != day.weekday():
                    continue
                step = rule.slot_minutes
                minute = _minutes(rule.start)
                while minute + step <= _minutes(rule.end):
                    begins = _local_start(day, time(minute // 60, minute % 60), zone)
                    if begins is not None and since <= begins < until:
                        found.add(Slot(begins, begins + timedelta(minutes=step), rule.kind))
                    minute += step
        day += timedelta(days=1)
    return sorted(found)


def free_slots(candidates: Iterable[Slot], *, booked: Iterable[datetime],
               busy: Iterable[tuple[datetime, datetime]], not_before: datetime) -> list[Slot]:
    """The candidates that start at or after `not_before`, are not booked (by start), and
    do not overlap another of the clinician's visits (`busy`, half-open spans)."""
    taken = set(booked)
    spans = list(busy)
    return [slot for slot in candidates
            if slot.start >= not_before and slot.start not in taken
            and not any(b_start < slot.end and slot.start < b_end for b_start, b_end in spans)]


def slot_id(clinician_id: str, start: datetime) -> str:
    """The stable name of a slot: its clinician and its UTC start to the minute."""
    return f"{clinician_id}-{start.astimezone(UTC):%Y%m%d%H%M}"


def parse_slot_id(text: str) -> tuple[str, datetime] | None:
    """(clinician id, UTC start) of a slot id, or None when it is not one."""
    match = _SLOT_ID.match(text)
    if match is None:
        return None
    try:
        start = datetime.strptime(match[2], "%Y%m%d%H%M").replace(tzinfo=UTC)
    except ValueError:
        return None
    return match[1], start


def may_change(start: datetime, now: datetime, cutoff: timedelta) -> bool:
    """Whether a patient may still book, move or cancel a visit starting at `start`:
    until `cutoff` before it."""
    return now <= start - cutoff


CANCELLABLE: Final = ("scheduled", "waiting")  # a visit that has not started


def cancel_refusal(status: str, start: datetime, now: datetime, cutoff: timedelta, *,
                   clinician: bool) -> Literal["visit_not_cancellable", "past_cutoff"] | None:
    """Why a visit may not be cancelled now (the code of the refusal), or None: a visit
    that has started or ended never; a patient's (or a delegate's) only until ``cutoff``
    before its start; a clinician's until it starts."""
    if status not in CANCELLABLE:
        return "visit_not_cancellable"
    if not clinician and not may_change(start, now, cutoff):
        return "past_cutoff"
    return None
