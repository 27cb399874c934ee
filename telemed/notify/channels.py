"""Channels that talk to the outside: email over SMTP (aiosmtplib) and Apprise URLs.

Each ``send`` returns an ``Outcome``: sent, retry later (4xx, connection trouble, timeouts)
or permanent failure (a 5xx refusal: the server will not take this message, ever).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Literal
from urllib.parse import unquote, urlsplit

import aiosmtplib

log = logging.getLogger("telemed.notify")

SMTP_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one attempt ended."""

    result: Literal["sent", "retry", "permanent"]
    error: str | None = None


SENT = Outcome("sent")


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where and how to reach the mail server (from ``TELEMED_SMTP_URL``)."""

    host: str
    port: int
    username: str | None
    password: str | None
    tls: bool  # smtps://: TLS from the first byte
    starttls: bool  # smtp+starttls://: upgrade before sending

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        tls = parts.scheme == "smtps"
        return cls(host=parts.hostname or "localhost",
                   port=parts.port or (465 if tls else 587 if parts.scheme.endswith("tls")
                                       else 25),
                   username=unquote(parts.username) if parts.username else None,
                   password=unquote(parts.password) if parts.password is not None else None,
                   tls=tls, starttls=parts.scheme == "smtp+starttls")


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:480]


async def send_email(server: SmtpServer, message: EmailMessage) -> Outcome:
    """Hand ``message`` to the mail server."""
    try:
        await aiosmtplib.send(message, hostname=server.host, port=server.port,
                              username=server.username, password=server.password,
                              use_tls=server.tls, start_tls=server.starttls,
                              timeout=SMTP_TIMEOUT)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        permanent = bool(codes) and all(code >= 500 for code in codes)
        return Outcome("permanent" if permanent else "retry", _short(exc))
    except aiosmtplib.SMTPAuthenticationError as exc:
        return Outcome("retry", _short(exc))  # the operator fixes the setting; keep trying
    except aiosmtplib.SMTPResponseException as exc:
        return Outcome("permanent" if exc.code >= 500 else "retry", _short(exc))
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        return Outcome("retry", _short(exc))
    return SENT


def apprise_address(url: str) -> str:
    """How an Apprise URL is shown and stored: its secrets hidden."""
    import apprise

    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        return "apprise:invalid"
    shown = str(plugin.url(privacy=True))  # type: ignore[no-untyped-call]
    return f"apprise:{shown}"[:320]


async def send_apprise(url: str, title: str, body: str) -> Outcome:
    """Page the operators through one Apprise URL (run off the event loop)."""
    import apprise

    def notify() -> bool:
        pager = apprise.Apprise()
        if not pager.add(url):
            return False
        return bool(pager.notify(body=body, title=title))

    try:
        delivered = await asyncio.to_thread(notify)
    except Exception as exc:  # a plugin's own failure must not stop the worker
        log.exception("apprise delivery raised")
        return Outcome("retry", _short(exc))
    return SENT if delivered else Outcome("retry", "the Apprise service did not accept it")
