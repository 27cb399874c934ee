"""JSON text from outside (API bodies, signalling frames, SenML packs), parsed defensively.

Python's ``json`` module accepts more than RFC 8259 / I-JSON (RFC 7493) allow, and a few
inputs make it raise something other than ``ValueError``. :func:`parse_json` refuses, with a
:class:`JsonInputError` carrying a snake_case reason:

- text that is not JSON (``invalid_json``), including ``NaN``/``Infinity`` and numbers too large
  for a double (``1e999``);
- nesting deeper than ``max_depth`` arrays/objects (``too_deep``; a default of 32 is far more
  than any of our shapes needs, and very deep input otherwise exhausts the recursion limit);
- lone surrogates (``\\ud800`` without its pair) in keys or values (``invalid_unicode``): they
  cannot be stored as UTF-8;
- the same key twice in one object (``duplicate_key``), which parsers resolve differently.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

DEFAULT_MAX_DEPTH = 32


class JsonInputError(ValueError):
    """JSON input refused; ``code`` says why (see the module docstring)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def finite_number(value: object) -> float | None:
    """A JSON number as a finite float (``None`` for others, NaN, ±inf, huge integers)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _constant(name: str) -> float:
    raise JsonInputError("invalid_json", f"{name} is not a JSON number.")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonInputError("invalid_json", f"The number {text[:40]} is out of range.")
    return value


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) == len(pairs):
        return result
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise JsonInputError("duplicate_key", f"The key {key[:40]!r} appears twice.")
        seen.add(key)
    return result  # pragma: no cover - a shorter dict always has a repeated key


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")[:80]


def walk_strings(data: object, path: str = "") -> Iterator[tuple[str, str]]:
    """Every key and string value of a parsed JSON document with its path (iteratively)."""
    stack: list[tuple[str, object]] = [(path, data)]
    while stack:
        where, node = stack.pop()
        if isinstance(node, str):
            yield where, node
        elif isinstance(node, dict):
            for key, value in node.items():
                child = f"{where}.{key}" if where else str(key)
                yield child, key
                stack.append((child, value))
        elif isinstance(node, list):
            stack.extend((f"{where}[{i}]", item) for i, item in enumerate(node))


def depth(data: object) -> int:
    """How deeply arrays and objects nest in ``data`` (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(data, 0)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict | list):
            level += 1
            deepest = max(deepest, level)
            stack.extend((child, level) for child in (
                node.values() if isinstance(node, dict) else node))
    return deepest


# Built once: json.loads with keyword arguments builds a decoder at every call.
_FINITE = json.JSONDecoder(parse_constant=_constant, parse_float=_float, object_pairs_hook=_pairs)
_ANY_FLOAT = json.JSONDecoder(parse_constant=_constant, parse_float=float,
                              object_pairs_hook=_pairs)


def parse_json(text: str | bytes, *, max_depth: int = DEFAULT_MAX_DEPTH,
               finite: bool = True) -> object:
    """The value of a JSON document, or :class:`JsonInputError`.

    ``finite=False`` lets a number too large for a double through as ±inf, for callers that
    reject it per item with a better reason (SenML records).
    """
    from_bytes = isinstance(text, bytes)
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        data = (_FINITE if finite else _ANY_FLOAT).decode(text)
    except JsonInputError:
        raise
    except RecursionError:
        raise JsonInputError("too_deep", f"JSON nested deeper than {max_depth} levels.") from None
    except (ValueError, UnicodeDecodeError):
        raise JsonInputError("invalid_json", "The text is not valid JSON.") from None
    # Fast paths, same answers: nesting cannot be deeper than the text has opening brackets,
    # and a string holds a lone surrogate only through a \\u escape or a str that cannot be
    # encoded (text decoded from UTF-8 bytes never holds one).
    if (text.count("[") + text.count("{") > max_depth and depth(data) > max_depth):
        raise JsonInputError("too_deep", f"JSON nested deeper than {max_depth} levels.")
    if "\\u" not in text and (from_bytes or _encodable(text)):
        return data
    for where, value in walk_strings(data):
        if not _encodable(value):
            raise JsonInputError(
                "invalid_unicode",
                f"The text at {_printable(where) or 'the top level'} holds a lone surrogate "
                "(invalid Unicode).",
            )
    return data
