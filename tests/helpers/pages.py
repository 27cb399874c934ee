"""Using the HTML pages like a browser would: CSRF token, login, form posts, page text."""

from __future__ import annotations

import html
import re
from typing import Any

from aiohttp.test_utils import TestClient
from multidict import MultiDict

from tests.conftest import PASSWORD

Client = TestClient[Any, Any]


CSRF_RE = re.compile(r'name="csrf-token" content="([^"]+)"')


async def csrf_of(client: Client, path: str = "/login") -> str:
    """The CSRF token of the browser session (from a page's meta tag)."""
    resp = await client.get(path)
    match = CSRF_RE.search(await resp.text())
    assert match, "no csrf meta tag"
    return match[1]


async def log_in(client: Client, username: str, password: str = PASSWORD) -> Any:
    token = await csrf_of(client)
    return await client.post("/login", data={"username": username, "password": password,
                                             "csrf_token": token}, allow_redirects=False)


async def logged_in(client: Client, username: str) -> str:
    """Log in through the form, which must send the browser on; the CSRF token it used."""
    token = await csrf_of(client)
    resp = await client.post("/login", data={"username": username, "password": PASSWORD,
                                             "csrf_token": token}, allow_redirects=False)
    assert resp.status in (302, 303), await resp.text()
    return token


async def post_form(client: Client, path: str, data: dict[str, str] | MultiDict[str],
                    page: str | None = None) -> Any:
    token = await csrf_of(client, page or "/")
    form = MultiDict(data)
    form["csrf_token"] = token
    return await client.post(path, data=form, allow_redirects=False)


def text_of(page: str) -> str:
    """The visible text of a page: scripts, styles and tags removed, whitespace collapsed."""
    shown = re.sub(r"<(script|style)\b[^>]*>.*?</\1>", " ", page, flags=re.S | re.I)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", shown)).split())


def field_error(page: str, field_id: str) -> str:
    """The error message shown next to a field (empty when none)."""
    match = re.search(rf'<p class="error-message" id="{re.escape(field_id)}-error">(.*?)</p>',
                      page, re.DOTALL)
    return text_of(match[1]) if match else ""
