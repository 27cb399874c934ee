"""Keyset pagination with opaque cursors (`?limit=&cursor=`).

A cursor is the base64url JSON list of the sort key of the last item of a page. Clients may
send anything as a cursor, so every part is checked against the key's declared type before a
query sees it: a malformed cursor is a 400 ``invalid_cursor``, never a database error.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from telemed.domain.json_input import JsonInputError, parse_json
from telemed.domain.text import forbidden_character
from telemed.errors import ApiError

CHUNK = 500  # ids per IN list: far below every engine's parameter limit


def chunks(ids: Sequence[str]) -> list[Sequence[str]]:
    """``ids`` a few hundred at a time, for ``IN`` lists."""
    return [ids[i:i + CHUNK] for i in range(0, len(ids), CHUNK)]

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_CURSOR_LENGTH = 2048
MAX_KEY_TEXT = 300
INT64 = 2**63 - 1

KeyPart = Literal["str", "int", "datetime", "scalar"]
"""A sort-key part: text, a 64-bit integer, an ISO 8601 time with offset (kept as text), or
"scalar" (text or integer) for callers that only give ``key_length``."""


@dataclass(frozen=True)
class Page:
    """Requested page: how many items, and after which sort key."""

    limit: int
    after: list[Any] | None


def encode_cursor(key: Sequence[Any]) -> str:
    """An opaque cursor for the sort key of the last item of a page."""
    raw = json.dumps(list(key), separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _part_ok(value: object, kind: KeyPart) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return kind in ("int", "scalar") and -INT64 <= value <= INT64
    if not isinstance(value, str) or kind == "int":
        return False
    if len(value) > MAX_KEY_TEXT or forbidden_character(value) is not None:
        return False
    if kind == "datetime":
        try:
            return datetime.fromisoformat(value).tzinfo is not None
        except ValueError:
            return False
    return True


def decode_cursor(cursor: str, key: Sequence[KeyPart]) -> list[Any]:
    """The sort key in a cursor made by :func:`encode_cursor`, or 400 ``invalid_cursor``."""
    after: object = None
    if len(cursor) <= MAX_CURSOR_LENGTH:
        try:
            after = parse_json(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)),
                               max_depth=1)
        except (JsonInputError, binascii.Error, ValueError):
            after = None
    if (not isinstance(after, list) or len(after) != len(key)
            or not all(_part_ok(v, k) for v, k in zip(after, key, strict=True))):
        raise ApiError(400, "invalid_cursor", "cursor is not valid.")
    return after


def parse_page(query: Mapping[str, str], *, key_length: int | None = None,
               key: Sequence[KeyPart] | None = None) -> Page:
    """Read `limit` and `cursor` from a query string; 400 on nonsense.

    ``key`` declares the type of each sort-key part; ``key_length`` alone means that many
    text-or-integer parts.
    """
    scalar: KeyPart = "scalar"
    parts: Sequence[KeyPart] = key if key is not None else [scalar] * (key_length or 0)
    raw_limit = query.get("limit", str(DEFAULT_LIMIT))
    if (not (raw_limit.isascii() and raw_limit.isdigit()) or len(raw_limit) > 6
            or not 1 <= int(raw_limit) <= MAX_LIMIT):
        raise ApiError(400, "invalid_limit", "limit must be a whole number from 1 to {max}.",
                       params={"max": MAX_LIMIT})
    cursor = query.get("cursor")
    after = decode_cursor(cursor, parts) if cursor else None
    return Page(limit=int(raw_limit), after=after)
