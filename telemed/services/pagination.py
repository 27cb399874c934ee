"""Keyset pagination with opaque cursors (`?limit=&cursor=`)."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from telemed.errors import ApiError

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True)
class Page:
    """Requested page: how many items, and after which sort key."""

    limit: int
    after: list[Any] | None


def encode_cursor(key: Sequence[Any]) -> str:
    """An opaque cursor for the sort key of the last item of a page."""
    raw = json.dumps(list(key), separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def parse_page(query: Mapping[str, str], *, key_length: int) -> Page:
    """Read `limit` and `cursor` from a query string; 400 on nonsense."""
    raw_limit = query.get("limit", str(DEFAULT_LIMIT))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise ApiError(400, "invalid_limit", f"limit must be a whole number from 1 to {MAX_LIMIT}.")
    cursor = query.get("cursor")
    after = None
    if cursor:
        try:
            after = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        except ValueError:
            after = None
        if not isinstance(after, list) or len(after) != key_length:
            raise ApiError(400, "invalid_cursor", "cursor is not valid.")
    return Page(limit=int(raw_limit), after=after)
