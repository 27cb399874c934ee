"""A middleware that refuses a URL or a form holding NUL or a lone surrogate before any handler.

Ids in paths and values in query strings reach SQL as they are. PostgreSQL stores no NUL
(``invalid byte sequence for encoding "UTF8": 0x00``) and asyncpg cannot encode a lone
surrogate, so ``/api/v1/patients/%00`` or ``?q=%00`` used to end in a 500. One check here
covers every route (API, FHIR, pages, WebSocket upgrades): 400 ``invalid_path`` or
``invalid_query``, rendered by the error middleware as JSON or as a page. URL-encoded form posts
(the pages' forms: login, care plans, alert notes, ...) get the same check, ``invalid_form``.
"""

from __future__ import annotations

import re

from aiohttp import web

from telemed.errors import ApiError
from telemed.principal import Handler

FORM = "application/x-www-form-urlencoded"
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
    if request.method == "POST" and request.content_type == FORM:
        form = await request.post()  # cached: the CSRF check and the handler read it again
        if any(_unstorable(key) or (isinstance(value, str) and _unstorable(value))
               for key, value in form.items()):
            raise ApiError(400, "invalid_form", "A form field holds a character that is not "
                           "allowed.")
    return await handler(request)
