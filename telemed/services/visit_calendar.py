"""iCalendar (.ics) export of a visit, for the participants' and the patient's calendars.

Calendars are often synchronised to third-party services, so the event carries no patient
name, no fiscal code and no clinical detail: only the kind of visit, the time and the link
to the visit page.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlsplit

from icalendar import Alarm, Calendar, Event

from telemed.db.models import Visit
from telemed.db.types import utcnow
from telemed.services.visits import scheduled_end

PRODID = "-//Telemed//Visits//EN"


def visit_ics(
    visit: Visit, *, summary: str, description: str, url: str, now: datetime | None = None
) -> bytes:
    """A VCALENDAR with one VEVENT (cancelled visits are exported as STATUS:CANCELLED)."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = Event()
    host = urlsplit(url).hostname or "telemed"
    event.add("uid", f"visit-{visit.id}@{host}")
    event.add("dtstamp", now or utcnow())
    event.add("dtstart", visit.scheduled_start)
    event.add("dtend", scheduled_end(visit))
    event.add("summary", summary)
    event.add("description", f"{description}\n{url}")
    event.add("url", url)
    event.add("status", "CANCELLED" if visit.status == "cancelled" else "CONFIRMED")
    event.add("transp", "OPAQUE")
    if visit.status != "cancelled":
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", summary)
        alarm.add("trigger", timedelta(minutes=-15))
        event.add_component(alarm)
    calendar.add_component(event)
    payload: bytes = calendar.to_ical()
    return payload
