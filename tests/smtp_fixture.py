"""Pytest plugin: a real SMTP server (aiosmtpd's Controller) on a free loopback port.

Fixture ``smtp_server`` -> MailCatcher: every message it accepted, parsed
(``messages``), ``url`` for TELEMED_SMTP_URL, ``stop()``/``start()`` on the same port, and
recipients that are refused: ``refuse-*@...`` permanently (550), ``later-*@...`` for now (450).

When the test ends, every message the server received is checked for clinical content
(``assert_no_clinical``): digits outside the link (values), metric names and units, and any
text the test named with ``forbid(...)`` (patients' names, diagnoses, care-plan text).
A message that leaks one fails the test that sent it.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import threading
from collections.abc import AsyncIterator, Iterable
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from telemed.domain.units import METRICS
from tests.helpers.net import free_port

_URL = re.compile(r"https?://\S+")
_FOLDED = re.compile(r"\(×\d+\)")  # how many duplicates a notification folded: not clinical
_ALWAYS_FORBIDDEN = (
    *METRICS.keys(), "mmHg", "mm[Hg]", "mg/dL", "/min", "bpm", "kg", "SpO2", "%", "NEWS2",
    "saturazione", "saturation", "pressione", "pressure", "glicemia", "glucose", "weight",
    "peso", "frequenza", "heart rate", "temperature", "temperatura",
)


class _Handler:
    def __init__(self, catcher: MailCatcher) -> None:
        self.catcher = catcher

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address.startswith("refuse-"):
            return "550 5.1.1 No such user here"
        if address.startswith("later-"):
            return "450 4.2.1 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.catcher.received(msg, list(envelope.rcpt_tos))
        return "250 Message accepted"


class MailCatcher:
    """The messages a real SMTP server accepted during one test."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self.envelopes: list[list[str]] = []
        self.forbidden: list[str] = []  # besides _ALWAYS_FORBIDDEN
        self._arrival = threading.Condition()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def received(self, msg: EmailMessage, rcpts: list[str]) -> None:
        with self._arrival:
            self.messages.append(msg)
            self.envelopes.append(rcpts)
            self._arrival.notify_all()

    def start(self) -> None:
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def forbid(self, *texts: str) -> None:
        """Texts no message may contain (case-insensitive)."""
        self.forbidden.extend(t for t in texts if t)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    def _wait(self, count: int, seconds: float) -> bool:
        with self._arrival:
            return self._arrival.wait_for(lambda: len(self.messages) >= count, seconds)

    async def wait_for(self, count: int, seconds: float = 10.0) -> list[EmailMessage]:
        """The messages once at least ``count`` arrived (they come from the server's thread)."""
        arrived = await asyncio.to_thread(self._wait, count, seconds)
        assert arrived, f"{len(self.messages)} of {count} messages arrived"
        return self.messages


def body_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


def clinical_leaks(msg: EmailMessage, forbidden: Iterable[str]) -> list[str]:
    """What of clinical nature a message says (empty when nothing)."""
    text = f"{msg['Subject']}\n{body_of(msg)}"
    outside_links = _FOLDED.sub(" ", _URL.sub(" ", text))
    leaks = [f"digit {d!r}" for d in re.findall(r"\d+", outside_links)]
    lowered = outside_links.lower()
    words = dict.fromkeys([*_ALWAYS_FORBIDDEN, *forbidden])
    leaks += [f"text {f!r}" for f in words if f.lower() in lowered]
    return leaks


def assert_no_clinical(messages: Iterable[EmailMessage], forbidden: Iterable[str]) -> None:
    words = list(forbidden)
    for msg in messages:
        leaks = clinical_leaks(msg, words)
        assert not leaks, f"message {msg['Message-ID']} to {msg['To']} leaks {leaks}"


@pytest.fixture
async def smtp_server() -> AsyncIterator[MailCatcher]:
    catcher = MailCatcher()
    await asyncio.to_thread(catcher.start)
    try:
        yield catcher
    finally:
        await asyncio.to_thread(catcher.stop)
    assert_no_clinical(catcher.messages, catcher.forbidden)


