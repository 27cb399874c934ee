"""Run Alembic migrations programmatically (used by `telemed db upgrade` and tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(database_url: str, timezone: str | None = None) -> Config:
    """An Alembic config pointing at our migrations and the given database; ``timezone``
    (the service's, TELEMED_TIMEZONE; None: the default) for the migrations that date
    something by local time (0027)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["timezone"] = timezone
    return config


def upgrade(database_url: str, revision: str = "head", timezone: str | None = None) -> None:
    """Apply migrations up to `revision` (blocking; call from a thread inside a loop)."""
    from telemed.db.engine import secure_sqlite_file, sqlite_path

    path = sqlite_path(database_url)
    if path is not None:
        secure_sqlite_file(path)  # created owner-only before SQLite opens it
    command.upgrade(alembic_config(database_url, timezone), revision)


def current_revision_head() -> str:
    """The newest revision shipped with this code."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head
