"""The daily digest of routine notifications (docs/notifications.md, "Daily digest"): pure
rules of what a person may choose and when their summary is due.

- **Choice.** Per kind, ``immediate`` (an email for each notification, the default) or
  ``digest`` (held for one summary email a day). Only the kinds the caller names as
  digestible may wait; the urgent and mandatory ones are always sent at once.
- **Time.** ``HH:MM``, local time of the service (``TELEMED_TIMEZONE``), default 07:30.
- **When due.** A held notification goes out with the first digest time strictly after it
  was held (`next_digest_at`, `due_now`), read on the local clock: the same 07:30 on the day
  the clocks change. A time the spring change skips (02:30 in Europe/Rome) is sent as far
  after the gap as it was into it (03:30, PEP 495's rule); a time the autumn change repeats
  is sent at its first occurrence only.
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


def due_now(pending: Iterable[tuple[str, datetime]], held_kinds: Collection[str], at: time,
            where: tzinfo, now: datetime) -> tuple[datetime, frozenset[str]] | None:
    """The summary due at ``now`` for a user's ``pending`` notifications (kind, when held),
    as (its due instant, the kinds it takes); None when none is due.

    The day's summary is due at the digest time after the earliest pending notification of a
    kind still held, and takes everything pending. A kind switched back to right away does not
    wait for it: what it had pending goes out at once, in a summary of those kinds only (due
    from when the earliest of them was held). The due instant names the summary: a user gets
    one per due instant, however many workers find it due."""
    pending = list(pending)
    scheduled = min((next_digest_at(held, at, where) for kind, held in pending
                     if kind in held_kinds), default=None)
    if scheduled is not None and scheduled <= now:
        return scheduled, frozenset(kind for kind, _ in pending)
    early = [(held, kind) for kind, held in pending if kind not in held_kinds]
    if not early:
        return None
    return min(early)[0], frozenset(kind for _, kind in early)
