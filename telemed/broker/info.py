"""Where the broker is and which platform identities this process uses on it."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from telemed.broker.topics import INGEST_USERNAME


@dataclass(frozen=True)
class BrokerInfo:
    """A broker's address and the platform's credentials on it (passwords never in repr)."""

    host: str
    port: int
    tls: bool
    admin_username: str
    admin_password: str = field(repr=False)
    ingest_username: str
    ingest_password: str = field(repr=False)
    private: bool = False

    @property
    def address(self) -> str:
        """`host:port`, as shown to people."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """`mqtt://host:port` or `mqtts://host:port` (no credentials)."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.address}"


def derived_ingest_password(secret_key: str) -> str:
    """The ingest client's password for an external broker, derived from SECRET_KEY.

    Every process of a deployment shares SECRET_KEY, so they all agree on it without storing
    it anywhere; changing SECRET_KEY changes it (the next start sets it on the broker).
    """
    digest = hmac.new(secret_key.encode(), b"telemed:mqtt:ingest", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def info_from_url(url: str, *, ingest_password: str) -> BrokerInfo:
    """BrokerInfo for `mqtt[s]://ADMIN:PASSWORD@HOST:PORT` (validated by Settings)."""
    parts = urlsplit(url)
    tls = parts.scheme == "mqtts"
    return BrokerInfo(
        host=parts.hostname or "",
        port=parts.port or (8883 if tls else 1883),
        tls=tls,
        admin_username=unquote(parts.username or ""),
        admin_password=unquote(parts.password or ""),
        ingest_username=INGEST_USERNAME,
        ingest_password=ingest_password,
        private=False,
    )


def split_listen(listen: str) -> tuple[str, int]:
    """`HOST:PORT` (validated by Settings) as a pair; `[::1]:1883` is accepted."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)
