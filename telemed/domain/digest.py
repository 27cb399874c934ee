"""The daily digest of routine notifications (docs/notifications.md, "Daily digest"): pure
rules of what a person may choose and when their summary is due.

- **Choice.** Per kind, ``immediate`` (an email for each notification, the default) or
  ``digest`` (held for one summary email a day). Only the kinds the caller names as
  digestible may wait; the urgent and mandatory ones are always sent at once.
- **Time.** ``HH:MM``, local time of the service (``TELEMED_TIMEZONE``), default 07:30.
- **When due.** A held notification goes out with the first digest time strictly after it
  was held (`next_digest_at`, `due_at`), read on the local clock: the same 07:30 on the day
  the clocks change. A time the spring change skips (02:30 in Europe/Rome) is sent as far
  after the gap as it was into it (03:30, PEP 495's rule); a time the autumn change repeats
  is sent at its first occurrence only. A kind switched back to right away is due at once.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any, Final

from telemed.domain.errors import N_, FieldError

IMMEDIATE: Final = "immediate"
DIGEST: Final = "digest"
CHOICES: Final[tuple[str, ...]] = (IMMEDIATE, DIGEST)
DEFAULT_TIME: Final = time(7, 30)
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")

UNKNOWN_KIND = N_("Unknown notification kind.")
BAD_CHOICE = N_("Choose immediate or digest.")
NOT_DIGESTIBLE = N_("This notification is always sent at once; it cannot wait for the daily "
                    "summary.")
BAD_TIME = N_("Give the time of the daily summary as HH:MM, for example 07:30.")


def parse_time(text: object) -> time:
    """``"HH:MM"`` (24-hour, two digits each) as a time; ValueError otherwise."""
    match = _HHMM.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError("expected HH:MM")
    return time(int(match.group(1)), int(match.group(2)))


def stored_time(stored: object) -> time:
    """The digest time a user stored (the default when none or unreadable)."""
    try:
        return parse_time(stored)
    except ValueError:
        return DEFAULT_TIME


def choice_errors(delivery: Mapping[str, Any], digest_time: object, *,
                  kinds: Collection[str], digestible: Collection[str],
                  time_given: bool) -> list[FieldError]:
    """What is wrong with a change of delivery choices (``notify_delivery``) and of the
    digest time (``digest_time``, checked when ``time_given``); empty when valid."""
    errors: list[FieldError] = []
    for kind, value in delivery.items():
        path = f"notify_delivery.{kind}"
        if kind not in kinds:
            errors.append(FieldError(path, "unknown_kind", UNKNOWN_KIND))
        elif value not in CHOICES:
            errors.append(FieldError(path, "invalid_choice", BAD_CHOICE))
        elif value == DIGEST and kind not in digestible:
            errors.append(FieldError(path, "not_digestible", NOT_DIGESTIBLE))
    if time_given:
        try:
            parse_time(digest_time)
        except ValueError:
            errors.append(FieldError("digest_time", "invalid_time", BAD_TIME))
    return errors


def merged(stored: Iterable[Any] | None, changes: Mapping[str, str],
           digestible: Collection[str]) -> list[str]:
    """The kinds held for the digest after ``changes`` (valid ones), sorted."""
    held = {k for k in stored or () if k in digestible}
    for kind, value in changes.items():
        if value == DIGEST:
            held.add(kind)
        else:
            held.discard(kind)
    return sorted(held)


def next_digest_at(after: datetime, at: time, where: tzinfo) -> datetime:
    """The first instant (UTC) strictly after ``after`` at which the clock of ``where``
    shows ``at``; DST-safe (see the module's docstring)."""
    local_day = after.astimezone(where).date()
    for offset in range(3):
        candidate = datetime.combine(local_day + timedelta(days=offset), at,
                                     tzinfo=where).astimezone(UTC)
        if candidate > after:
            return candidate
    raise AssertionError("a local time of day recurs within three days")  # pragma: no cover


def due_at(held_at: datetime, waits: bool, at: time, where: tzinfo, now: datetime) -> datetime:
    """When a notification held at ``held_at`` is due: while its kind ``waits`` for the
    digest, the first digest time after it was held; else (switched back to right away)
    ``now``, at once. Stored on the notification when held, again when its owner's choices
    change."""
    return next_digest_at(held_at, at, where) if waits else now


def digest_times(first: datetime, last: datetime, at: time,
                 where: tzinfo) -> list[datetime]:
    """The digest times after ``first`` up to the first after ``last``, in order: a
    notification held at any instant ``h`` from ``first`` to ``last`` is due at the first of
    them later than ``h`` (`next_digest_at`), so one ``CASE`` on when it was held dates
    them all."""
    times = [next_digest_at(first, at, where)]
    while times[-1] <= last:
        times.append(next_digest_at(times[-1], at, where))
    return times
