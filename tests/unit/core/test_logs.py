"""Structured logs: JSON lines with request ids, no secrets, text on a terminal."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from telemed.logs import (
    REQUEST_ID,
    JsonFormatter,
    TextFormatter,
    redact,
    request_context,
    resolve_format,
    setup_logging,
)


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    handler = setup_logging("DEBUG", "json", stream)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)
    assert root.handlers == handlers


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line]


def test_a_json_line_has_the_fields(captured: io.StringIO) -> None:
    logging.getLogger("telemed.test").info("stored %d readings", 3, extra={"device": "d1"})
    [line] = lines(captured)
    assert line["level"] == "INFO" and line["logger"] == "telemed.test"
    assert line["message"] == "stored 3 readings" and line["device"] == "d1"
    assert line["time"].endswith("+00:00") and "T" in line["time"]
    assert isinstance(line["pid"], int)
    assert "request_id" not in line and "exception" not in line


def test_the_request_id_comes_from_the_context(captured: io.StringIO) -> None:
    log = logging.getLogger("telemed.test")
    with request_context("abc123"):
        log.warning("inside")
    log.warning("outside")
    inside, outside = lines(captured)
    assert inside["request_id"] == "abc123"
    assert "request_id" not in outside
    assert REQUEST_ID.get() is None


def test_an_explicit_request_id_wins(captured: io.StringIO) -> None:
    logging.getLogger("telemed.http").info("GET /x 200", extra={"request_id": "r-1"})
    assert lines(captured)[0]["request_id"] == "r-1"


def test_exceptions_are_one_field_of_one_line(captured: io.StringIO) -> None:
    try:
        raise RuntimeError("connect to postgresql://telemed:hunter2@db/telemed failed")
    except RuntimeError:
        logging.getLogger("telemed.test").exception("write failed")
    [line] = lines(captured)
    assert line["level"] == "ERROR" and line["message"] == "write failed"
    assert "Traceback" in line["exception"] and "RuntimeError" in line["exception"]
    assert "hunter2" not in line["exception"]
    assert "postgresql://telemed:***@db/telemed" in line["exception"]
    assert len(captured.getvalue().splitlines()) == 1


@pytest.mark.parametrize(("text", "secret"), [
    ("GET /ws/visits/v1?token=eyJhbGciOi.x.y 101", "eyJhbGciOi"),
    ("fetching https://example.org/api/v1/patients?q=RSSMRA80 failed", "RSSMRA80"),
    ("Authorization: Bearer abcdef0123456789", "abcdef0123456789"),
    ("Authorization: Basic ZGV2aWNlOnNlY3JldA==", "ZGV2aWNlOnNlY3JldA=="),
    ('body {"username": "doc", "password": "correct-horse"}', "correct-horse"),
    ("password=correct-horse retry", "correct-horse"),
    ("mqtt://admin:Sup3rS3cret@127.0.0.1:1883", "Sup3rS3cret"),
    ("redis://:redispw@cache:6379/0", "redispw"),
    ("resume_token='r3sum3' expired", "r3sum3"),
    ("TELEMED_SECRET_KEY=0123456789abcdef0123456789abcdef", "0123456789abcdef"),
])
def test_secrets_and_query_strings_are_removed(text: str, secret: str) -> None:
    assert secret not in redact(text)


def test_harmless_text_is_kept() -> None:
    text = "GET /api/v1/alerts 200 3.1ms; stored 12 readings for device d-1 (anyone?)"
    assert redact(text) == text


def test_secret_extras_and_messages_are_redacted(captured: io.StringIO) -> None:
    logging.getLogger("telemed.test").info("login with password=hunter2",
                                           extra={"token": "t0k3n", "path": "/a?x=1"})
    [line] = lines(captured)
    assert "hunter2" not in line["message"]
    assert line["token"] == "***" and line["path"] == "/a?***"


def test_text_format_keeps_the_classic_line() -> None:
    record = logging.LogRecord("telemed.http", logging.INFO, __file__, 1,
                               "GET %s 200", ("/x?token=abc",), None)
    record.request_id = "rid-7"
    line = TextFormatter().format(record)
    assert " INFO telemed.http: GET /x?*** 200 [request rid-7]" in line
    assert "abc" not in line


def test_json_formatter_without_handler_filter() -> None:
    record = logging.LogRecord("x", logging.DEBUG, __file__, 1, "plain", None, None)
    with request_context("ctx-1"):
        data = json.loads(JsonFormatter().format(record))
    assert data["request_id"] == "ctx-1" and data["message"] == "plain"


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_is_text_on_a_terminal_and_json_elsewhere() -> None:
    assert resolve_format("auto", _Tty()) == "text"
    assert resolve_format("auto", io.StringIO()) == "json"
    assert resolve_format("text", io.StringIO()) == "text"
    with pytest.raises(ValueError, match="log format"):
        resolve_format("xml", io.StringIO())


async def test_the_middleware_puts_the_request_id_on_handler_logs(
        captured: io.StringIO) -> None:
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from telemed.middlewares import create_error_middleware
    from telemed.principal import public

    @public
    async def handler(request: web.Request) -> web.Response:
        logging.getLogger("telemed.test").info("handling")
        raise RuntimeError("boom password=hunter2")

    async def no_page(request: web.Request, status: int, message: str) -> web.Response:
        raise AssertionError("an API path answers JSON, never a page")

    app = web.Application(middlewares=[create_error_middleware(no_page)])
    app.router.add_get("/api/v1/boom", handler)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/api/v1/boom?token=secret-value",
                                headers={"X-Request-ID": "req-42"})
        assert resp.status == 500 and resp.headers["X-Request-ID"] == "req-42"
    got = [line for line in lines(captured) if line["logger"].startswith("telemed.")]
    assert [line["request_id"] for line in got] == ["req-42"] * 3
    handled, error, access = got
    assert handled["message"] == "handling"
    assert error["level"] == "ERROR" and "RuntimeError" in error["exception"]
    assert access["message"].startswith("GET /api/v1/boom 500")
    text = captured.getvalue()
    assert "secret-value" not in text and "hunter2" not in text
