"""The header's bell: how many of the user's notifications are unread."""

from __future__ import annotations

import logging

from aiohttp import web

from telemed import keys
from telemed.notify import outbox
from telemed.principal import PRINCIPAL

log = logging.getLogger("telemed.views")


async def unread_for_header(request: web.Request) -> int | None:
    """The unread count of the logged-in user (None for anonymous visitors or when the
    database cannot answer: the bell never breaks a page)."""
    who = request.get(PRINCIPAL)
    if who is None:
        return None
    try:
        async with request.app[keys.SESSIONS]() as session:
            return await outbox.unread_count(session, who.user_id)
    except Exception:
        log.warning("the bell's unread count is not available", exc_info=True)
        return None
