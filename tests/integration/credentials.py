"""Helpers for session and credential tests: browsers with their own cookies, short-lived
credentials, and waiting for live channels."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import timedelta
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.db.models import User, UserSession
from telemed.db.types import utcnow
from telemed.live_channels import live_channels
from telemed.services.sessions import issue_access_token
from tests.conftest import PASSWORD

CSRF_RE = re.compile(r'name="csrf-token" content="([^"]+)"')
STREAM = "/api/v1/alerts/stream"


class Browser:
    """A browser of its own (cookie jar) on the test server."""

    def __init__(self, client: TestClient[Any, Any]) -> None:
        self.client = client
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    def url(self, path: str) -> str:
        return str(self.client.make_url(path))

    async def csrf(self, path: str = "/login") -> str:
        resp = await self.http.get(self.url(path))
        match = CSRF_RE.search(await resp.text())
        assert match, f"no csrf meta tag on {path}"
        return match[1]

    async def log_in(self, username: str, password: str = PASSWORD) -> None:
        token = await self.csrf()
        resp = await self.http.post(self.url("/login"), allow_redirects=False, data={
            "username": username, "password": password, "csrf_token": token})
        assert resp.status == 303, await resp.text()

    async def post_form(self, path: str, data: dict[str, str], page: str = "/") -> Any:
        form = {**data, "csrf_token": await self.csrf(page)}
        return await self.http.post(self.url(path), data=form, allow_redirects=False)

    async def post_json(self, path: str, data: dict[str, Any], page: str = "/") -> Any:
        return await self.http.post(self.url(path), json=data,
                                    headers={"X-CSRF-Token": await self.csrf(page)})

    def cookie(self) -> str:
        return "; ".join(f"{c.key}={c.value}" for c in self.http.cookie_jar)

    async def close(self) -> None:
        await self.http.close()


async def short_token(app: Any, username: str, seconds: int) -> dict[str, str]:
    """Bearer headers of a token (and its session) that expires in `seconds`."""
    from sqlmodel import select

    async with app[keys.SESSIONS]() as db:
        user = (await db.exec(select(User).where(User.username == username))).one()
        token = await issue_access_token(db, user, secret=app[keys.SETTINGS].secret_key,
                                         ttl_seconds=seconds)
    return {"Authorization": f"Bearer {token}"}


async def expire_sessions_of(app: Any, user_id: str, seconds: float) -> None:
    """Make every open session of the user expire in `seconds` (as if opened long ago)."""
    from sqlmodel import col, select

    async with app[keys.SESSIONS]() as db:
        rows = await db.exec(select(UserSession).where(col(UserSession.user_id) == user_id))
        for row in rows.all():
            row.expires_at = utcnow() + timedelta(seconds=seconds)
            db.add(row)
        await db.commit()


async def channels_open(app: Any, user_id: str, count: int, within: float = 3.0) -> None:
    """Wait until `count` live channels of the user are registered."""
    deadline = time.monotonic() + within
    while len(live_channels(app).by_user.get(user_id, ())) < count:
        assert time.monotonic() < deadline, "the channel was not registered"
        await asyncio.sleep(0.02)
