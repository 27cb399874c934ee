"""Settings: environment, TOML file, one clear line per bad value, no default secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from telemed.settings import SettingsError, load_settings

SECRET = "s" * 40


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("TELEMED_"):
            monkeypatch.delenv(key)


def test_defaults(tmp_path: Path) -> None:
    s = load_settings(secret_key=SECRET, data_dir=tmp_path)
    assert s.http_port == 8080
    assert s.mqtt_listen == "127.0.0.1:18830"
    assert s.language == "it"
    assert s.turn_ttl == 3600
    assert s.effective_public_url == "http://127.0.0.1:8080"
    assert s.effective_database_url == f"sqlite+aiosqlite:///{tmp_path.as_posix()}/telemed.db"


def test_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TELEMED_SECRET_KEY", SECRET)
    monkeypatch.setenv("TELEMED_HTTP_PORT", "9090")
    monkeypatch.setenv("TELEMED_STUN_URLS", "stun:stun.example.org:3478, stun:other:3478")
    monkeypatch.setenv("TELEMED_LANGUAGE", "en")
    s = load_settings()
    assert s.http_port == 9090
    assert s.stun_urls == ("stun:stun.example.org:3478", "stun:other:3478")
    assert s.language == "en"


def test_toml_file(tmp_path: Path) -> None:
    config = tmp_path / "telemed.toml"
    config.write_text(f'secret_key = "{SECRET}"\nhttp_port = 8181\npublic_url = "https://tm.example.org/"\n')
    s = load_settings(config)
    assert s.http_port == 8181
    assert s.effective_public_url == "https://tm.example.org"


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="config file not found"):
        load_settings(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("TELEMED_HTTP_PORT", "eighty", "TELEMED_HTTP_PORT"),
        ("TELEMED_HTTP_PORT", "70000", "TELEMED_HTTP_PORT"),
        ("TELEMED_DATABASE_URL", "mysql://x", "TELEMED_DATABASE_URL"),
        ("TELEMED_MQTT_URL", "http://broker", "TELEMED_MQTT_URL"),
        ("TELEMED_MQTT_URL", "mqtt://broker:1883", "TELEMED_MQTT_URL"),
        ("TELEMED_LANGUAGE", "de", "TELEMED_LANGUAGE"),
        ("TELEMED_STUN_URLS", "http://x", "TELEMED_STUN_URLS"),
        ("TELEMED_TURN_TTL", "5", "TELEMED_TURN_TTL"),
        ("TELEMED_ENV", "staging", "TELEMED_ENV"),
        ("TELEMED_PUBLIC_URL", "ftp://x", "TELEMED_PUBLIC_URL"),
        ("TELEMED_TIMEZONE", "Nowhere/City", "TELEMED_TIMEZONE"),
        ("TELEMED_BOGUS", "1", "BOGUS"),
    ],
)
def test_bad_values_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, needle: str
) -> None:
    monkeypatch.setenv("TELEMED_SECRET_KEY", SECRET)
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert needle in message.upper()
    assert "\n" not in message


def test_secret_required_outside_development() -> None:
    with pytest.raises(SettingsError, match="TELEMED_SECRET_KEY"):
        load_settings()
    with pytest.raises(SettingsError, match="at least 32"):
        load_settings(secret_key="short")


def test_development_generates_and_keeps_a_secret(tmp_path: Path) -> None:
    first = load_settings(env="development", data_dir=tmp_path)
    second = load_settings(env="development", data_dir=tmp_path)
    assert len(first.secret_key) >= 32
    assert first.secret_key == second.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_turn_needs_secret() -> None:
    with pytest.raises(SettingsError, match="TURN_SECRET"):
        load_settings(secret_key=SECRET, turn_urls="turn:turn.example.org:3478")


def test_relay_only_media_needs_turn() -> None:
    with pytest.raises(SettingsError, match="TURN_URLS"):
        load_settings(secret_key=SECRET, ice_transport_policy="relay")
    with pytest.raises(SettingsError, match="ICE_TRANSPORT_POLICY"):
        load_settings(secret_key=SECRET, ice_transport_policy="direct")
    relay = load_settings(secret_key=SECRET, ice_transport_policy="relay",
                          turn_urls="turn:turn.example.org:3478", turn_secret="s" * 20)
    assert relay.ice_transport_policy == "relay"


def test_settings_are_frozen() -> None:
    from pydantic import ValidationError

    s = load_settings(secret_key=SECRET)
    with pytest.raises(ValidationError):
        s.http_port = 1  # type: ignore[misc]


def test_night_hours(tmp_path: Path) -> None:
    s = load_settings(secret_key=SECRET, data_dir=tmp_path, night_hours=" 23:30 - 6:00 ")
    assert s.night_hours == "23:30-06:00" and str(s.night) == "23:30-06:00"
    assert load_settings(secret_key=SECRET, data_dir=tmp_path).night_hours == "22:00-07:00"
    for bad in ("22-07", "22:00-22:00", "night"):
        with pytest.raises(SettingsError, match="TELEMED_NIGHT_HOURS"):
            load_settings(secret_key=SECRET, data_dir=tmp_path, night_hours=bad)
