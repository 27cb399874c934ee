"""Times on the pages: in the patient's time zone, and "3 minutes ago"."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web
from babel.dates import format_datetime, format_timedelta

from telemed import keys
from telemed.db.types import utcnow
from telemed.views.render import page_locale, t


def zone_of(tz_name: str | None) -> ZoneInfo:
    """A patient's time zone (Europe/Rome when unknown or invalid)."""
    try:
        return ZoneInfo(tz_name or "Europe/Rome")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Europe/Rome")


def local_time(request: web.Request, value: datetime, tz_name: str | None,
               pattern: str = "d MMM, HH:mm") -> str:
    """``value`` in the patient's time zone; the zone is named when it is not the site's."""
    text = format_datetime(value, pattern, tzinfo=zone_of(tz_name), locale=page_locale(request))
    site = request.app[keys.SETTINGS].timezone
    if tz_name and tz_name != site:
        text = f"{text} ({tz_name})"
    return text


def relative_time(request: web.Request, value: datetime, now: datetime | None = None) -> str:
    """"3 minutes ago" (the board's script keeps it current with the same rounding)."""
    delta = value - (now or utcnow())
    if abs(delta.total_seconds()) < 60:
        return t(request, "just now")
    return format_timedelta(delta, add_direction=True, threshold=1, locale=page_locale(request))
