"""`sqlite_time` writes a time as SQLAlchemy's SQLite DateTime binds a `UTCDateTime`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.dialects import sqlite

from telemed.db.types import UTCDateTime
from telemed.services.observations import sqlite_time

ROME = timezone(timedelta(hours=1))


def _bound(at: datetime) -> str:
    dialect = sqlite.dialect()
    value = UTCDateTime().process_bind_param(at, dialect)
    processor = sqlite.DATETIME().bind_processor(dialect)
    assert processor is not None
    return str(processor(value))


@pytest.mark.parametrize("at", [
    datetime(2026, 12, 7, 10, 0, tzinfo=UTC),
    datetime(2026, 12, 7, 10, 0, 0, 123456, tzinfo=UTC),
    datetime(2026, 12, 7, 0, 30, 5, 7, tzinfo=ROME),  # the day before in UTC
    datetime(1999, 1, 1, tzinfo=ZoneInfo("UTC")),  # UTC, but not the `UTC` object
    datetime.fromtimestamp(1796670190.1760576, UTC),
])
def test_the_text_is_what_the_column_type_binds(at: datetime) -> None:
    assert sqlite_time(at) == _bound(at)
    assert len(sqlite_time(at)) == 26
