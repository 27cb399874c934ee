"""The `telemed` command line, run as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def run(
    args: list[str], tmp_path: Path, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TELEMED_")}
    base.update({"TELEMED_ENV": "development", "TELEMED_DATA_DIR": str(tmp_path)}, **env)
    return subprocess.run([sys.executable, "-m", "telemed", *args], input=stdin, env=base,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def migrated(tmp_path: Path) -> Path:
    result = run(["db", "upgrade"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    return tmp_path


def test_user_add_prints_id(migrated: Path) -> None:
    result = run(["user", "add", "dr.neri", "--role", "doctor", "--password-stdin"], migrated,
                 stdin="Una-password-sicura-7\n")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip()) == 32
    again = run(["user", "add", "dr.neri", "--role", "doctor", "--password-stdin"], migrated,
                stdin="Una-password-sicura-7\n")
    assert again.returncode == 2
    assert "username is taken" in again.stderr


def test_user_add_rejects_bad_input(migrated: Path) -> None:
    weak = run(["user", "add", "dr.neri", "--role", "doctor", "--password-stdin"], migrated,
               stdin="short\n")
    assert weak.returncode == 2
    assert "password" in weak.stderr
    doctor_with_record = run(["user", "add", "doc", "--role", "doctor", "--patient", "x",
                              "--password-stdin"], migrated, stdin="Una-password-sicura-7\n")
    assert doctor_with_record.returncode == 2
    assert "patient" in doctor_with_record.stderr
    ghost = run(["user", "add", "pat", "--role", "patient", "--patient", "nope",
                 "--password-stdin"], migrated, stdin="Una-password-sicura-7\n")
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
    bad = run(["user", "add", "dr.neri", "--role", "doctor", "--phone", "333 123",
               "--password-stdin"], migrated, stdin="Una-password-sicura-7\n")
    assert bad.returncode == 2
    assert "phone" in bad.stderr
    good = run(["user", "add", "dr.neri", "--role", "doctor", "--phone", "+39 333-123 4567",
                "--password-stdin"], migrated, stdin="Una-password-sicura-7\n")
    assert good.returncode == 0, good.stderr
    import sqlite3

    [db] = migrated.glob("*.db")
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT username, phone FROM users").fetchall()
    assert rows == [("dr.neri", "+393331234567")]
