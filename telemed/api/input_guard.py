"""A middleware that refuses a URL holding NUL or a lone surrogate before any handler runs.

Ids in paths and values in query strings reach SQL as they are. PostgreSQL stores no NUL
(``invalid byte sequence for encoding "UTF8": 0x00``) and asyncpg cannot encode a lone
surrogate, so ``/api/v1/patients/%00`` or ``?q=%00`` used to end in a 500. One check here
covers every route (API, FHIR, pages, WebSocket upgrades): 400 ``invalid_path`` or
``invalid_query``, rendered by the error middleware as JSON or as a page.
"""

from __future__ import annotations

import re

from aiohttp import web

from telemed.errors import ApiError
from telemed.principal import Handler

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable(text: str) -> bool:
    return _UNSTORABLE.search(text) is not None


@web.middleware
async def input_guard_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """400 when the path or a query parameter holds NUL or a lone surrogate."""
    if _unstorable(request.path):
        raise ApiError(400, "invalid_path", "The address holds a character that is not allowed.")
    if any(_unstorable(key) or _unstorable(value) for key, value in request.query.items()):
        raise ApiError(400, "invalid_query",
                       "A query parameter holds a character that is not allowed.")
    return await handler(request)
