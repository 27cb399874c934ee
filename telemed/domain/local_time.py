"""Instants as a document writes them: in the service's time zone, with the language's date
format (``07/12/2026 00:30`` in Italian, ``2026-12-07 00:30`` in English). Pure; a stored
instant without a zone is taken as UTC. FHIR keeps ISO 8601 instants with their offset."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_ZONE = "Europe/Rome"


def zone(name: str | None) -> tzinfo:
    """The time zone ``name`` (Europe/Rome when missing or unknown)."""
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


def _local(value: datetime | str, where: tzinfo) -> datetime:
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(where)


def when_text(value: datetime | str, where: tzinfo, lang: str) -> str:
    """Date and time of ``value`` in ``where``, as ``lang`` writes them."""
    return _local(value, where).strftime("%d/%m/%Y %H:%M" if lang == "it" else "%Y-%m-%d %H:%M")


def day_text(value: datetime | str, where: tzinfo, lang: str) -> str:
    """The date of ``value`` in ``where``, as ``lang`` writes it."""
    return _local(value, where).strftime("%d/%m/%Y" if lang == "it" else "%Y-%m-%d")
