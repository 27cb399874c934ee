"""API errors: one exception type, rendered as {"error": {"code", "message"}}.

An error carries a snake_case ``code``, an English ``message`` template with ``{placeholders}``
and the ``params`` that fill it (as Home Assistant's ``translation_key`` and
``translation_placeholders``). The JSON API shows the English text; pages translate the code
at the edge (`telemed.i18n.messages`), with the English template as the fallback, so a
reworded message keeps its translation.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from telemed.domain.errors import FieldError, render_template

__all__ = ["N_", "ApiError", "FieldError", "bad_request", "conflict", "forbidden", "from_domain",
           "invalid", "not_found", "unauthorized"]

def N_(message: str) -> str:
    """Mark an English message for the catalogue where it is written (a field problem given
    as plain text); pages translate it by its text."""
    return message


FIELD_CODE = "invalid"
"""The code of a field problem given as plain English (translated by its text)."""


class ApiError(Exception):
    """An error with an HTTP status, a snake_case code and a human message.

    `message` is English; with `params` it is a template whose ``{placeholders}`` they fill.
    `key` names the message for translation when `code` is shared by several messages (it
    defaults to `code`). `fields` maps a field path to its problem: English text, or a
    `FieldError` (code, template, params)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        params: Mapping[str, object] | None = None,
        key: str | None = None,
        fields: Mapping[str, str | FieldError] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.template = message
        self.params: Mapping[str, object] = MappingProxyType(dict(params or {}))
        self.key = key or code
        self.message = render_template(message, self.params) if self.params else message
        super().__init__(self.message)
        self.problems: dict[str, FieldError] = {
            path: problem if isinstance(problem, FieldError)
            else FieldError(path, FIELD_CODE, problem)
            for path, problem in (fields or {}).items()
        }
        self.fields: dict[str, str] = {path: problem.render()
                                       for path, problem in self.problems.items()}
        self.headers = dict(headers or {})

    @property
    def said(self) -> FieldError:
        """The error's own message as a code, a template and its parameters."""
        return FieldError("", self.key, self.template, self.params)

    def messages(self) -> list[FieldError]:
        """What to tell a person: the field problems, or else the error's own message."""
        return list(self.problems.values()) or [self.said]

    def body(self) -> dict[str, Any]:
        """The JSON body of this error."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields:
            error["fields"] = self.fields
        return {"error": error}


def bad_request(message: str, code: str = "bad_request", *,
                params: Mapping[str, object] | None = None) -> ApiError:
    return ApiError(400, code, message, params=params)


def unauthorized(message: str = N_("Authentication required.")) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def forbidden(message: str = N_("You are not allowed to do this."), *,
              key: str | None = None) -> ApiError:
    return ApiError(403, "forbidden", message, key=key)


def not_found(what: str = "Resource") -> ApiError:
    return ApiError(404, "not_found", "{what} not found.", params={"what": what})


def conflict(message: str, code: str = "conflict", *,
             params: Mapping[str, object] | None = None) -> ApiError:
    return ApiError(409, code, message, params=params)


def invalid(fields: Mapping[str, str | FieldError],
            message: str = "Some fields are not valid.") -> ApiError:
    return ApiError(422, "validation_error", message, fields=fields)


def from_domain(exc: Exception, prefix: str = "") -> ApiError:
    """A 422 ApiError from a domain validation error (field path → its FieldError)."""
    fields: dict[str, str | FieldError] = {}
    for error in getattr(exc, "errors", []):
        path = f"{prefix}{error.path}" if error.path else prefix.rstrip(".") or "body"
        fields.setdefault(path, error)
    return invalid(fields)

