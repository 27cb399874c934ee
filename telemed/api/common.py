"""Shared helpers for API handlers: bodies, ids, JSON responses."""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from telemed import keys
from telemed.db.engine import SessionFactory
from telemed.errors import ApiError, invalid
from telemed.middlewares import read_json
from telemed.principal import REQUEST_ID

M = TypeVar("M", bound=BaseModel)


class Body(BaseModel):
    """Base of request bodies: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


def field_errors(exc: ValidationError) -> dict[str, str]:
    """Pydantic errors as {dotted.path: message}."""
    fields: dict[str, str] = {}
    for error in exc.errors():
        path = ""
        for part in error["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        fields.setdefault(path or "body", error["msg"].removeprefix("Value error, "))
    return fields


def validate(model: type[M], data: object) -> M:
    """`data` as `model`, or 422 naming every bad field."""
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_body", "The body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid(field_errors(exc)) from None


async def body(request: web.Request, model: type[M]) -> M:
    """The request's JSON body validated as `model`."""
    return validate(model, await read_json(request))


def sessions(request: web.Request) -> SessionFactory:
    """The database session factory."""
    return request.app[keys.SESSIONS]


def request_id(request: web.Request) -> str:
    return request[REQUEST_ID]


def ok(data: Any, status: int = 200) -> web.Response:
    """A JSON response."""
    return web.json_response(data, status=status, dumps=_dumps)


def _dumps(data: Any) -> str:
    import json

    return json.dumps(data, ensure_ascii=False, default=str)


def listing(items: list[Any], next_cursor: str | None) -> web.Response:
    """A page of a list endpoint."""
    return ok({"items": items, "next_cursor": next_cursor})
