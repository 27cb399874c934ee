"""Simulator pieces that need no broker: credentials files and the simulated clock."""

from __future__ import annotations

import json
import stat
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devices.cli import main
from devices.simulator import DeviceCredentials, SimClock, load_credentials, save_credentials


def test_credentials_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "creds.json"
    devices = [DeviceCredentials("d1", "secret-1", "scale", "heart_failure_weight_gain"),
               DeviceCredentials("d2", "secret-2", "pulse_oximeter")]
    save_credentials(path, devices)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_credentials(path) == devices
    assert "secret-1" not in repr(devices[0])


def test_credentials_accept_the_registration_answer(tmp_path: Path) -> None:
    path = tmp_path / "creds.json"
    path.write_text(json.dumps([{"mqtt_username": "d1", "mqtt_password": "pw",
                                 "kind": "bp_cuff", "extra": 1}]))
    assert load_credentials(path) == [DeviceCredentials("d1", "pw", "bp_cuff")]


@pytest.mark.parametrize("bad", [{"device_id": "d"}, {"device_id": "d", "password": "p",
                                                      "kind": "toaster"},
                                 {"device_id": "d", "password": "p", "scenario": "zombie"}])
def test_bad_credentials_are_refused(bad: dict[str, str]) -> None:
    with pytest.raises((ValueError, TypeError)):
        DeviceCredentials.from_json(bad)


def test_scaled_clock_ends_at_the_present() -> None:
    clock = SimClock(scale=3600, duration=10)
    assert datetime.now(UTC) - clock.start == pytest.approx(timedelta(hours=10 * 0.9997),
                                                            abs=timedelta(minutes=1))
    before = clock.now()
    time.sleep(0.01)
    assert (clock.now() - before).total_seconds() >= 30
    assert clock.real_seconds_until(clock.now() + timedelta(hours=1)) == pytest.approx(1,
                                                                                       abs=0.05)


def test_scaled_clock_needs_a_duration() -> None:
    with pytest.raises(ValueError, match="duration"):
        SimClock(scale=10)
    with pytest.raises(ValueError, match="at least 1"):
        SimClock(scale=0.5, duration=1)


def test_cli_lists_kinds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kinds"]) == 0
    out = capsys.readouterr().out
    assert "bp_cuff: bp_systolic, bp_diastolic, heart_rate" in out
    assert "copd_falling_spo2" in out


def test_cli_reports_a_bad_credentials_file(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "creds.json"
    path.write_text("{}")
    assert main(["simulate", "--credentials", str(path), "--no-progress"]) == 2
    assert "expected a JSON list" in capsys.readouterr().err
