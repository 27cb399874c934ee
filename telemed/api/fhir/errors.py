"""OperationOutcome errors for everything under /fhir/, including 401/403 from the auth layer."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from telemed.api.fhir.common import ERROR_CODES, fhir_response
from telemed.errors import ApiError
from telemed.principal import REQUEST_ID, Handler

log = logging.getLogger("telemed.fhir")

# HTTP status → FHIR IssueType (http://hl7.org/fhir/R4/valueset-issue-type.html)
ISSUE_TYPES = {
    400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
    406: "not-supported", 409: "conflict", 413: "too-long", 415: "not-supported",
    422: "invalid", 429: "throttled",
}
HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 413: "payload_too_large",
    415: "unsupported_media_type", 429: "too_many_requests",
}


def operation_outcome(status: int, code: str, message: str) -> dict[str, Any]:
    """An OperationOutcome with one error issue (the snake_case code as a Coding)."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{
            "severity": "error" if status < 500 else "fatal",
            "code": ISSUE_TYPES.get(status, "exception"),
            "details": {"coding": [{"system": ERROR_CODES, "code": code}], "text": message},
            "diagnostics": message,
        }],
    }


def outcome_response(error: ApiError) -> web.Response:
    """The OperationOutcome response of an ApiError (keeps headers such as WWW-Authenticate)."""
    return fhir_response(operation_outcome(error.status, error.code, error.message),
                         status=error.status, headers=error.headers or None)


def is_fhir(request: web.Request) -> bool:
    return request.path == "/fhir" or request.path.startswith("/fhir/")


@web.middleware
async def fhir_error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render errors under /fhir/ as OperationOutcome; leaves other paths untouched.

    Installed inside the global error middleware and outside authentication, so the 401/403
    raised by the role policy come out as OperationOutcome too.
    """
    if not is_fhir(request):
        return await handler(request)
    try:
        return await handler(request)
    except ApiError as exc:
        return outcome_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = exc.reason if exc.status != 404 else "No such FHIR resource or path."
        return outcome_response(ApiError(exc.status, HTTP_CODES.get(exc.status, "http_error"),
                                         message))
    except Exception:
        log.exception("unhandled FHIR error [request %s]",
                      request.get(REQUEST_ID, "-"))
        return outcome_response(ApiError(500, "internal_error",
                                         "Something went wrong on our side."))
