"""One frozen Settings object, read from TELEMED_* environment variables or a TOML file."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import available_timezones

from pydantic import Field, IPvAnyNetwork, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from telemed.domain.quiet import NightHours

LANGUAGES = ("it", "en")
Role = Literal["serve", "web", "ingest"]  # what one `telemed` process runs
_DEV_SECRET_FILE = "secret_key"


class SettingsError(Exception):
    """A missing or invalid setting; the message is one line naming it."""


def _split_urls(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


UrlList = Annotated[tuple[str, ...], NoDecode]
NetworkList = Annotated[tuple[IPvAnyNetwork, ...], NoDecode]


class Settings(BaseSettings):
    """Validated configuration of one Telemed process."""

    model_config = SettingsConfigDict(
        env_prefix="TELEMED_", frozen=True, extra="forbid", case_sensitive=False
    )

    env: Literal["development", "production", "test"] = "production"
    data_dir: Path = Path("./var")
    database_url: str = ""
    mqtt_url: str = ""
    mqtt_listen: str = "127.0.0.1:18830"
    redis_url: str = ""
    # Prefix of every Redis key and pub/sub channel (several deployments may share a Redis).
    redis_prefix: str = Field(default="telemed:", min_length=1, max_length=64)
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=1, le=65535)
    public_url: str = ""
    # Reverse proxies whose X-Forwarded-For is believed (addresses or CIDRs, comma-separated):
    # the client is the right-most address in it that is not one of these. Default: none,
    # so the header is ignored and the peer's address is the client's.
    trusted_proxies: NetworkList = ()
    secret_key: str = ""
    stun_urls: UrlList = ()
    turn_urls: UrlList = ()
    turn_secret: str = ""
    turn_ttl: int = Field(default=3600, ge=60, le=86400)
    # "relay": browsers send media only through TURN (no address of theirs reaches the peer).
    ice_transport_policy: Literal["all", "relay"] = "all"
    language: Literal["it", "en"] = "it"
    timezone: str = "Europe/Rome"
    session_max_age: int = Field(default=8 * 3600, ge=300, le=30 * 86400)
    token_ttl: int = Field(default=3600, ge=60, le=86400)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    api_rate_per_minute: int = Field(default=600, ge=10, le=1_000_000)
    mosquitto_bin: str = "mosquitto"
    # Ingest worker (docs/telemonitoring.md). MQTT client id of this worker's persistent
    # session: stable across restarts, unique per worker; empty = "telemed-ingest-<hostname>".
    ingest_client_id: str = Field(default="", max_length=64)
    # A batch is written when it holds this many readings or this many ms after its first.
    # How the worker subscribes to readings: "shared" ($share/telemed-ingest/..., several
    # workers split the load), "exclusive" (one worker; a plain persistent subscription) or
    # "auto" = exclusive under `telemed serve` with its private Mosquitto, else shared.
    # Mosquitto 2.0 does not restore shared subscriptions from persistence, so with "shared"
    # readings published between a broker restart and the workers' resubscription are lost.
    ingest_subscription: Literal["auto", "shared", "exclusive"] = "auto"
    # Where the worker's MQTT connection and SenML decoding run: "process", a receiving
    # process beside the worker's (a second core for them, the worker's loop keeps the batch
    # transactions); "inline", in the worker's own process; "auto" = process for `telemed
    # ingest`, inline under `telemed serve` (one process for a small site).
    ingest_receiver: Literal["auto", "inline", "process"] = "auto"
    ingest_batch_size: int = Field(default=2000, ge=1, le=10_000)
    ingest_batch_ms: int = Field(default=20, ge=1, le=1000)
    # Seconds between passes of the periodic rules (missed measurements, silent devices,
    # escalation); 0 disables them in this process.
    scheduler_interval: int = Field(default=30, ge=0, le=3600)
    # Path of mosquitto_dynamic_security.so; empty = look in the usual Debian/Ubuntu places.
    mosquitto_plugin: str = ""
    # "auto": MQTT_URL set -> that broker, unset -> a private Mosquitto; "none": this process
    # neither starts nor uses a broker. Unset means "auto", except "none" under TELEMED_ENV=test.
    broker: Literal["auto", "none"] | None = None
    # Notifications (docs/notifications.md): email server (unset = no email; the notification
    # centre still records everything), sender, and Apprise URLs of the operators' paging.
    smtp_url: str = ""
    mail_from: str = ""
    notify_urls: UrlList = ()
    # Clinical documents (docs/documents.md): the organisation's seal (PEM files: private key,
    # certificate with its intermediates, the CA certificates a verifier trusts), the name on
    # the documents' header, and the FHIR endpoint of the regional record (unset = no
    # publishing).
    seal_key: str = ""
    seal_cert: str = ""
    seal_trust_anchor: str = ""
    service_name: str = Field(default="Servizio di Telemedicina", min_length=1, max_length=120)
    fse_url: str = ""
    # Teleconsult imaging (docs/teleconsult.md): the PACS's DICOMweb root (unset = no PACS)
    # and optional basic-auth credentials; the size limit of one uploaded attachment.
    dicomweb_url: str = ""
    dicomweb_user: str = ""
    dicomweb_password: str = ""
    attachment_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, le=512 * 1024 * 1024)
    # Booking (docs/booking.md): patients book, move or cancel a visit until this many hours
    # before its start.
    booking_cutoff_hours: int = Field(default=24, ge=0, le=720)
    # Local night (TELEMED_TIMEZONE) during which warnings never page anyone unless the care
    # plan says so (telemed.domain.quiet).
    night_hours: str = "22:00-07:00"
    # Identity (docs/identity.md): the region's OpenID provider (its SPID/CIE gateway), this
    # client's registration, the level of assurance that counts as a second factor, and who
    # must have a second factor ("staff": doctors, nurses and admins; "none").
    oidc_issuer: str = ""
    oidc_client_id: str = Field(default="", max_length=255)
    oidc_client_secret: str = Field(default="", max_length=255)
    oidc_scopes: str = Field(default="openid profile", max_length=255)
    oidc_min_acr: str = Field(default="", max_length=128)
    require_2fa: Literal["none", "staff"] = "none"

    @field_validator("oidc_issuer")
    @classmethod
    def _check_issuer(cls, value: str) -> str:
        if value:
            parts = urlsplit(value)
            local = parts.hostname in ("127.0.0.1", "localhost", "::1")
            if parts.scheme != "https" and not (parts.scheme == "http" and local):
                raise ValueError("must be an https:// URL (http:// only on this machine)")
        return value.rstrip("/")

    @field_validator("oidc_scopes")
    @classmethod
    def _check_scopes(cls, value: str) -> str:
        if "openid" not in value.split():
            raise ValueError("must include openid")
        return value

    @field_validator("stun_urls", "turn_urls", "trusted_proxies", "notify_urls", mode="before")
    @classmethod
    def _urls(cls, value: Any) -> Any:
        return _split_urls(value)

    @field_validator("stun_urls")
    @classmethod
    def _check_stun(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            if not url.startswith(("stun:", "stuns:")):
                raise ValueError(f"{url!r} is not a stun: or stuns: URL")
        return value

    @field_validator("turn_urls")
    @classmethod
    def _check_turn(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            if not url.startswith(("turn:", "turns:")):
                raise ValueError(f"{url!r} is not a turn: or turns: URL")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_db(cls, value: str) -> str:
        if value and not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @field_validator("mqtt_url")
    @classmethod
    def _check_mqtt(cls, value: str) -> str:
        if value:
            parts = urlsplit(value)
            if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
                raise ValueError("must look like mqtt://USER:PASSWORD@HOST:PORT or mqtts://...")
            if not parts.username or parts.password is None:
                raise ValueError("needs the dynamic-security admin USER:PASSWORD")
        return value

    @field_validator("mqtt_listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be HOST:PORT")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("must be a redis:// or rediss:// URL")
        return value

    @field_validator("public_url")
    @classmethod
    def _check_public(cls, value: str) -> str:
        if value:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("dicomweb_url")
    @classmethod
    def _check_dicomweb(cls, value: str) -> str:
        if value:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError("must be an http:// or https:// URL (the DICOMweb root)")
        return value.rstrip("/")

    @field_validator("smtp_url")
    @classmethod
    def _check_smtp(cls, value: str) -> str:
        if value:
            parts = urlsplit(value)
            if parts.scheme not in ("smtp", "smtps", "smtp+starttls") or not parts.hostname:
                raise ValueError("must look like smtp://[USER:PASSWORD@]HOST:PORT, smtps://... "
                                 "or smtp+starttls://...")
        return value

    @field_validator("fse_url")
    @classmethod
    def _check_fse(cls, value: str) -> str:
        if value:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError("must be the http:// or https:// base URL of a FHIR server")
        return value.rstrip("/")

    @field_validator("mail_from")
    @classmethod
    def _check_mail_from(cls, value: str) -> str:
        if value and ("@" not in value or any(c in value for c in "\r\n")):
            raise ValueError("must be an email address, e.g. Telemed <telemed@example.org>")
        return value

    @field_validator("night_hours")
    @classmethod
    def _check_night(cls, value: str) -> str:
        return str(NightHours.parse(value))

    @field_validator("timezone")
    @classmethod
    def _check_tz(cls, value: str) -> str:
        if value not in available_timezones():
            raise ValueError("unknown IANA time zone")
        return value

    @model_validator(mode="before")
    @classmethod
    def _development_secret(cls, data: Any) -> Any:
        if (
            isinstance(data, dict)
            and str(data.get("env", "")).lower() == "development"
            and not data.get("secret_key")
        ):
            data = {**data, "secret_key": _dev_secret(Path(data.get("data_dir") or "./var"))}
        return data

    @model_validator(mode="after")
    def _secrets(self) -> Settings:
        if self.env != "development" and not self.secret_key:
            raise ValueError(
                "TELEMED_SECRET_KEY is required (at least 32 characters) unless "
                "TELEMED_ENV=development"
            )
        if self.secret_key and len(self.secret_key) < 32:
            raise ValueError("TELEMED_SECRET_KEY must be at least 32 characters")
        if self.turn_urls and not self.turn_secret:
            raise ValueError("TELEMED_TURN_SECRET is required when TELEMED_TURN_URLS is set")
        if self.ice_transport_policy == "relay" and not self.turn_urls:
            raise ValueError("TELEMED_ICE_TRANSPORT_POLICY=relay needs TELEMED_TURN_URLS")
        if self.oidc_issuer and not self.oidc_client_id:
            raise ValueError("TELEMED_OIDC_CLIENT_ID is required when TELEMED_OIDC_ISSUER is set")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml = _TOML_FILE.get("path")
        if toml is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)

    # Derived values -------------------------------------------------------

    @property
    def effective_database_url(self) -> str:
        """The configured database URL, or a SQLite file in DATA_DIR."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'telemed.db').as_posix()}"

    @property
    def effective_public_url(self) -> str:
        """Where users reach the site, used for Origin checks and links."""
        return self.public_url or f"http://{self.http_host}:{self.http_port}"

    @property
    def night(self) -> NightHours:
        """The night hours, parsed."""
        return NightHours.parse(self.night_hours)

    @property
    def effective_mail_from(self) -> str:
        """The sender of notification emails (default telemed@HOSTNAME)."""
        if self.mail_from:
            return self.mail_from
        import socket

        return f"telemed@{socket.gethostname() or 'localhost'}"

    @property
    def is_development(self) -> bool:
        return self.env == "development"

    @property
    def broker_mode(self) -> Literal["private", "external", "none"]:
        """Which broker this process uses: its own Mosquitto, MQTT_URL's, or none."""
        if self.broker == "none" or (
            self.broker is None and self.env == "test" and not self.mqtt_url
        ):
            return "none"
        return "external" if self.mqtt_url else "private"


_TOML_FILE: dict[str, Path] = {}


def _dev_secret(data_dir: Path) -> str:
    """Read or create the development secret kept in DATA_DIR."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = data_dir / _DEV_SECRET_FILE
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    loc = [str(part) for part in first.get("loc", ())]
    msg = first.get("msg", "invalid").removeprefix("Value error, ")
    if loc:
        return f"invalid setting TELEMED_{loc[0].upper()}: {msg}"
    return f"invalid settings: {msg}"


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build and validate the settings; raise SettingsError with one clear line."""
    _TOML_FILE.clear()
    if config_file is not None:
        if not config_file.is_file():
            raise SettingsError(f"config file not found: {config_file}")
        _TOML_FILE["path"] = config_file
    import os

    known = {f"TELEMED_{name.upper()}" for name in Settings.model_fields}
    unknown = sorted(
        k for k in os.environ if k.upper().startswith("TELEMED_") and k.upper() not in known
    )
    if unknown:
        raise SettingsError(f"unknown setting {unknown[0]} (check the spelling)")
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None
    except OSError as exc:
        raise SettingsError(f"invalid setting TELEMED_DATA_DIR: {exc}") from None
    finally:
        _TOML_FILE.clear()
