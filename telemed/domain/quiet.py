"""Quiet by design (docs/notifications.md, "Quiet by design"): pure rules of who is paged when.

- **Night**: the night hours (``TELEMED_NIGHT_HOURS``, default ``22:00-07:00``, local time of
  ``TELEMED_TIMEZONE``) may wrap around midnight.
- **Warnings**: only critical alerts escalate to a person unless the care plan's
  ``page_warnings`` says ``day`` (unacknowledged warnings escalate too, outside the night
  hours; a step due at night waits for the morning) or ``day_and_night``.
- **Snooze**: a snoozed alert takes no escalation step and records no notification; a worse
  severity clears the snooze (``telemed.services.alerts``), so it always notifies.
- **Folding**: a notification for the same person, of the same kind and about the same
  subject (the patient of an alert, the visit, ...) within ``FOLD_WINDOW`` of an unread one is
  folded into it: one notification that says how many (``fold_count``). A further escalation
  step of the *same* alert is a deliberate repeat and is never folded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Final

FOLD_WINDOW: Final = timedelta(minutes=10)
DEFAULT_NIGHT: Final = "22:00-07:00"
# Kinds that fold; each with the subject its duplicates share (see fold_key).
# Not visit_changed or visit_reminder: a cancellation after a booking is news, not a duplicate.
FOLDING: Final[frozenset[str]] = frozenset({"alert_critical", "alert_escalated",
                                            "emergency_access", "document_available"})
_SPAN = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-3]):([0-5]\d)\s*$")


@dataclass(frozen=True, slots=True)
class NightHours:
    """From ``start`` to ``end`` (local times; wraps around midnight when end <= start)."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> NightHours:
        """``"HH:MM-HH:MM"``; ValueError when malformed or empty (start == end)."""
        match = _SPAN.match(text)
        if match is None:
            raise ValueError("expected HH:MM-HH:MM, e.g. 22:00-07:00")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        night = cls(time(h1, m1), time(h2, m2))
        if night.start == night.end:
            raise ValueError("the night must not start when it ends")
        return night

    def contains(self, local: time) -> bool:
        """Whether the local time of day ``local`` is at night."""
        moment = local.replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def may_page(severity: str, page_warnings: str | None, at_night: bool) -> bool:
    """Whether an unacknowledged alert of ``severity`` may escalate to a person now."""
    if severity == "critical":
        return True
    if severity != "warning":
        return False
    if page_warnings == "day_and_night":
        return True
    return page_warnings == "day" and not at_night


def fold_key(kind: str, subject: str | None) -> str | None:
    """The key duplicates of a notification share (None: this kind never folds)."""
    if kind not in FOLDING or not subject:
        return None
    return f"{kind}:{subject}"[:200]


def folds_into(*, kind: str, existing_created_at: datetime, existing_read: bool,
               existing_cause_id: str, cause_id: str, now: datetime,
               window: timedelta = FOLD_WINDOW) -> bool:
    """Whether a new notification folds into an existing one with the same fold key."""
    if existing_read or not timedelta(0) <= now - existing_created_at < window:
        return False
    # The next step of the same alert's escalation is a repeat on purpose: it pages again.
    return not (kind == "alert_escalated" and existing_cause_id == cause_id)
