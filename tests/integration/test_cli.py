"""The `telemed` command line, run as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import fresh_settings


def run(
    args: list[str], tmp_path: Path, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TELEMED_")}
    base.update({"TELEMED_ENV": "development", "TELEMED_DATA_DIR": str(tmp_path)}, **env)
    return subprocess.run([sys.executable, "-m", "telemed", *args], input=stdin, env=base,
                          capture_output=True, text=True, timeout=120)


def user_add(data_dir: Path, *args: str,
             password: str = "Una-password-sicura-7") -> subprocess.CompletedProcess[str]:
    """`telemed user add ARGS --password-stdin` with `password` on its input."""
    return run(["user", "add", *args, "--password-stdin"], data_dir, stdin=f"{password}\n")


def test_db_upgrade_migrates_an_empty_data_directory(tmp_path: Path) -> None:
    result = run(["db", "upgrade"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    assert (tmp_path / "telemed.db").exists()


@pytest.fixture
def migrated(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with a migrated database: a copy of the session's migrated template
    (`telemed db upgrade` itself is the test above)."""
    fresh_settings(tmp_path, tmp_path_factory)
    return tmp_path


def test_user_add_prints_id(migrated: Path) -> None:
    result = user_add(migrated, "dr.neri", "--role", "doctor")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip()) == 32
    again = user_add(migrated, "dr.neri", "--role", "doctor")
    assert again.returncode == 2
    assert "username is taken" in again.stderr


def test_user_add_rejects_bad_input(migrated: Path) -> None:
    weak = user_add(migrated, "dr.neri", "--role", "doctor", password="short")
    assert weak.returncode == 2
    assert "password" in weak.stderr
    doctor_with_record = user_add(migrated, "doc", "--role", "doctor", "--patient", "x")
    assert doctor_with_record.returncode == 2
    assert "patient" in doctor_with_record.stderr
    ghost = user_add(migrated, "pat", "--role", "patient", "--patient", "nope")
    assert ghost.returncode == 2
    bad_role = run(["user", "add", "x", "--role", "wizard"], migrated)
    assert bad_role.returncode == 2
    assert "invalid choice" in bad_role.stderr


def test_bad_setting_stops_with_one_line(tmp_path: Path) -> None:
    result = run(["db", "upgrade"], tmp_path, TELEMED_HTTP_PORT="http")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "TELEMED_HTTP_PORT" in lines[0]


def test_production_refuses_missing_secret(tmp_path: Path) -> None:
    result = run(["db", "upgrade"], tmp_path, TELEMED_ENV="production")
    assert result.returncode == 2
    assert "TELEMED_SECRET_KEY" in result.stderr


def test_serve_refuses_unmigrated_database(tmp_path: Path) -> None:
    result = run(["serve"], tmp_path)
    assert result.returncode == 2
    assert "telemed db upgrade" in result.stderr


def test_demo_seed_is_idempotent(migrated: Path) -> None:
    first = run(["demo", "--seed-only"], migrated)
    assert first.returncode == 0, first.stderr
    assert "dr.bianchi" in first.stdout
    second = run(["demo", "--seed-only"], migrated)
    assert second.returncode == 0, second.stderr


def test_user_add_takes_a_phone_number(migrated: Path) -> None:
    bad = user_add(migrated, "dr.neri", "--role", "doctor", "--phone", "333 123")
    assert bad.returncode == 2
    assert "phone" in bad.stderr
    good = user_add(migrated, "dr.neri", "--role", "doctor", "--phone", "+39 333-123 4567")
    assert good.returncode == 0, good.stderr
    import sqlite3

    [db] = migrated.glob("*.db")
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT username, phone FROM users").fetchall()
    assert rows == [("dr.neri", "+393331234567")]
