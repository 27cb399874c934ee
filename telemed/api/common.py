"""Shared helpers for API handlers: bodies, query parameters, ids, JSON responses.

Every JSON body goes through :func:`body`: one parser (``telemed.domain.json_input``) that
refuses malformed, too deeply nested, duplicate-key and lone-surrogate input with 400
``invalid_json``/``too_deep``/``duplicate_key``/``invalid_unicode``; a 422 names every string
holding NUL; then the model is validated in pydantic's strict JSON mode, so a boolean is never
taken as a number (``"minutes": true``) and a number never as a string or the reverse.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Concatenate, ParamSpec, TypeVar

from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed import keys
from telemed.db.engine import SessionFactory
from telemed.domain.json_input import JsonInputError, parse_json, walk_strings
from telemed.domain.text import describe, forbidden_character, text_errors
from telemed.errors import ApiError, invalid
from telemed.principal import REQUEST_ID, Principal, principal

M = TypeVar("M", bound=BaseModel)
P = ParamSpec("P")
T = TypeVar("T")

MAX_BODY_DEPTH = 32


class Body(BaseModel):
    """Base of request bodies: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


def text_rule(max_length: int, *, multiline: bool = False, collapse: bool = False
              ) -> AfterValidator:
    """The free-text rule (``telemed.domain.text``) for a body field:
    ``title: Annotated[str, text_rule(200)]``. Blank text passes as "" (handlers that
    require a value say so in their own words); over-long text is refused, never cut.
    """

    def check(value: str) -> str:
        text, errors = text_errors(value, "", max_length=max_length, multiline=multiline,
                                   required=False, collapse=collapse)
        if errors:
            raise ValueError(errors[0].render())
        return text or ""

    return AfterValidator(check)


def field_errors(exc: ValidationError) -> dict[str, str]:
    """Pydantic errors as {dotted.path: message}."""
    fields: dict[str, str] = {}
    for error in exc.errors():
        path = ""
        for part in error["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        fields.setdefault(path or "body", error["msg"].removeprefix("Value error, "))
    return fields


def refuse_nul(data: object) -> None:
    """422 naming every key or string of a parsed body that holds NUL (U+0000)."""
    fields = {path or "body": "Must not contain the NUL character (U+0000)."
              for path, text in walk_strings(data) if "\x00" in text}
    if fields:
        raise invalid(fields)


def validate(model: type[M], data: object) -> M:
    """`data` (parsed JSON) as `model`, strictly typed, or 422 naming every bad field."""
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_body", "The body must be a JSON object.")
    refuse_nul(data)
    try:
        return model.model_validate_json(json.dumps(data), strict=True)
    except ValidationError as exc:
        raise invalid(field_errors(exc)) from None


def parse_body(text: str | bytes) -> object:
    """A request body's JSON value, or 400 saying what is wrong with it."""
    try:
        return parse_json(text, max_depth=MAX_BODY_DEPTH)
    except JsonInputError as exc:
        code = "invalid_json" if exc.code in ("invalid_json", "invalid_unicode") else exc.code
        raise ApiError(400, code, f"The body is not acceptable JSON: {exc.message}") from None


async def read_json(request: web.Request) -> object:
    """The request's JSON body; 415 for another media type, 400 when it is not good JSON."""
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "Send the body as application/json.")
    return parse_body(await request.read())


async def body(request: web.Request, model: type[M]) -> M:
    """The request's JSON body validated as `model`."""
    return validate(model, await read_json(request))


# Query parameters ------------------------------------------------------------------------


def query_int(query: Mapping[str, str], name: str, *, low: int, high: int,
              default: int | None = None) -> int | None:
    """A whole-number query parameter in [low, high] (ASCII digits only), or 400."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or not low <= int(raw) <= high:
        raise ApiError(400, f"invalid_{name}",
                       f"{name} must be a whole number from {low} to {high}.")
    return int(raw)


def query_text(query: Mapping[str, str], name: str, *, max_length: int = 200) -> str | None:
    """A text query parameter without control or bidi characters, or 400."""
    raw = query.get(name)
    if raw is None:
        return None
    bad = forbidden_character(raw)
    if bad is not None or len(raw) > max_length:
        raise ApiError(400, f"invalid_{name}",
                       f"{name} must be at most {max_length} characters without control "
                       f"characters" + (f" (found {describe(bad)})." if bad else "."))
    return raw


def sessions(request: web.Request) -> SessionFactory:
    """The database session factory."""
    return request.app[keys.SESSIONS]


async def call(request: web.Request,
               use_case: Callable[Concatenate[AsyncSession, Principal, P], Awaitable[T]],
               *args: P.args, **kwargs: P.kwargs) -> T:
    """`use_case` of a service for the caller, on a session of its own: the one shape of
    a handler's database work (``await call(request, service.get_alert, alert_id)``)."""
    async with sessions(request)() as session:
        return await use_case(session, principal(request), *args, **kwargs)


def request_id(request: web.Request) -> str:
    return request[REQUEST_ID]


def ok(data: Any, status: int = 200) -> web.Response:
    """A JSON response."""
    return web.json_response(data, status=status, dumps=_dumps)


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, default=str)


def listing(items: list[Any], next_cursor: str | None) -> web.Response:
    """A page of a list endpoint."""
    return ok({"items": items, "next_cursor": next_cursor})
