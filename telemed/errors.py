"""API errors: one exception type, rendered as {"error": {"code", "message"}}."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ApiError(Exception):
    """An error with an HTTP status, a snake_case code and a human message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        fields: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = dict(fields or {})
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The JSON body of this error."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields:
            error["fields"] = self.fields
        return {"error": error}


def bad_request(message: str, code: str = "bad_request") -> ApiError:
    return ApiError(400, code, message)


def unauthorized(message: str = "Authentication required.") -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def forbidden(message: str = "You are not allowed to do this.") -> ApiError:
    return ApiError(403, "forbidden", message)


def not_found(what: str = "Resource") -> ApiError:
    return ApiError(404, "not_found", f"{what} not found.")


def conflict(message: str, code: str = "conflict") -> ApiError:
    return ApiError(409, code, message)


def invalid(fields: Mapping[str, str], message: str = "Some fields are not valid.") -> ApiError:
    return ApiError(422, "validation_error", message, fields=fields)


def from_domain(exc: Exception, prefix: str = "") -> ApiError:
    """A 422 ApiError from a domain validation error (field path → English message)."""
    fields: dict[str, str] = {}
    for error in getattr(exc, "errors", []):
        path = f"{prefix}{error.path}" if error.path else prefix.rstrip(".") or "body"
        fields.setdefault(path, error.render())
    return invalid(fields)
