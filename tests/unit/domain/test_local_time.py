"""Times in a document: the service's zone, the language's date format."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from telemed.domain.local_time import day_text, when_text, zone

ROME = ZoneInfo("Europe/Rome")


def test_a_utc_instant_crosses_midnight_in_rome_and_takes_the_languages_format() -> None:
    late = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)  # 00:30 on the 7th in Rome (+01:00)
    assert when_text(late, ROME, "it") == "07/12/2026 00:30"
    assert when_text(late, ROME, "en") == "2026-12-07 00:30"
    assert day_text(late, ROME, "it") == "07/12/2026"
    assert day_text(late, UTC, "en") == "2026-12-06"


def test_summer_time_iso_text_and_naive_instants_are_utc() -> None:
    assert when_text("2026-07-01T22:15:00+00:00", ROME, "it") == "02/07/2026 00:15"  # +02:00
    assert when_text(datetime(2026, 7, 1, 22, 15), ROME, "en") == "2026-07-02 00:15"


def test_an_unknown_zone_is_rome() -> None:
    assert zone("Mars/Olympus") == ROME and zone(None) == ROME
    assert zone("America/New_York") == ZoneInfo("America/New_York")
