"""Structured logging: JSON lines (one object per record) or plain text, with request ids.

`setup_logging(level, fmt)` installs one handler on the root logger. ``fmt`` is ``json``,
``text`` or ``auto`` (text when the stream is a terminal, JSON otherwise: journald, Docker,
files). A JSON line holds ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
``pid``, ``request_id`` (the HTTP request being served, from the ``REQUEST_ID`` context
variable that the error middleware sets for each request; absent outside requests),
``exception`` (the formatted traceback, when there is one) and any safe ``extra`` fields.

Secrets never reach the output: every message, extra value and traceback goes through
`redact`, which removes query strings, URL passwords, ``Authorization`` credentials and
``password``/``token``/``secret`` values. Callers still must not log request bodies.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

LogFormat = Literal["auto", "json", "text"]
LOG_FORMATS: tuple[str, ...] = ("auto", "json", "text")

REQUEST_ID: ContextVar[str | None] = ContextVar("telemed_request_id", default=None)

_SENSITIVE_KEY = r"(?:password|passwd|pwd|secret|secret_key|token|access_token|resume_token|" \
                 r"api_key|apikey|authorization|cookie|session)"
_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    # scheme://user:password@host -> scheme://user:***@host (database, broker, Redis URLs)
    (re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*):[^@\s/]+@"), r"\1:***@"),
    # the query string of a path or URL: it may carry join tokens and personal data
    (re.compile(r"((?:[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/?\"']+)?/[^\s?\"']*)\?[^\s\"']*"),
     r"\1?***"),
    # Authorization header values
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"), r"\1 ***"),
    # password=..., "token": "...", secret: ...
    (re.compile(r"(?i)([\"']?\b[\w-]*" + _SENSITIVE_KEY + r"\b[\"']?\s*[:=]\s*)"
                r"(\"[^\"]*\"|'[^']*'|[^\s,;&}\]]+)"), r"\1***"),
)
_SENSITIVE_NAME = re.compile(r"(?i)" + _SENSITIVE_KEY)

# Attributes every LogRecord has; anything else came in through ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {
    "message", "asctime", "request_id", "taskName"}


def redact(text: str) -> str:
    """``text`` without query strings, URL passwords, credentials and secret values."""
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


def _request_id(record: logging.LogRecord) -> str | None:
    explicit = record.__dict__.get("request_id")
    if isinstance(explicit, str) and explicit:
        return explicit
    return REQUEST_ID.get()


class RequestIdFilter(logging.Filter):
    """Copy the current request id (context variable) onto every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id(record)
        return True


def _safe_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "pid": record.process,
        }
        request_id = _request_id(record)
        if request_id:
            data["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key in _STANDARD or key.startswith("_") or key in data:
                continue
            data[key] = "***" if _SENSITIVE_NAME.search(key) else _safe_value(value)
        if record.exc_info:
            data["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            data["exception"] = redact(record.exc_text)
        if record.stack_info:
            data["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(data, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message [request id]`` with the same redaction as JSON."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = redact(super().format(record))
        request_id = _request_id(record)
        if request_id:
            first, sep, rest = line.partition("\n")
            line = f"{first} [request {request_id}]{sep}{rest}"
        return line


def resolve_format(fmt: LogFormat | str, stream: TextIO) -> Literal["json", "text"]:
    """``auto`` → text on a terminal, JSON otherwise."""
    if fmt == "json":
        return "json"
    if fmt == "text":
        return "text"
    if fmt != "auto":
        raise ValueError(f"unknown log format {fmt!r} (json, text or auto)")
    isatty = getattr(stream, "isatty", None)
    return "text" if callable(isatty) and isatty() else "json"


_HANDLER_MARK = "_telemed_handler"


def setup_logging(level: str | int = "INFO", fmt: LogFormat | str = "auto",
                  stream: TextIO | None = None) -> logging.Handler:
    """Install the Telemed handler on the root logger (replacing an earlier one)."""
    stream = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if resolve_format(fmt, stream) == "json"
                         else TextFormatter())
    handler.addFilter(RequestIdFilter())
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, _HANDLER_MARK, False):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler


@contextlib.contextmanager
def request_context(request_id: str) -> Iterator[None]:
    """Log records emitted inside carry ``request_id``."""
    token = REQUEST_ID.set(request_id)
    try:
        yield
    finally:
        REQUEST_ID.reset(token)

