"""Shared FHIR R4 building blocks: paths, code systems, datatypes and the JSON response."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from aiohttp import web

from telemed import keys

BASE_PATH = "/fhir/R4"
FHIR_JSON = "application/fhir+json"
FHIR_VERSION = "4.0.1"
ID_PATTERN = r"[A-Za-z0-9\-\.]{1,64}"

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DATA_ABSENT_REASON = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
FISCAL_CODE = "http://hl7.it/sid/codiceFiscale"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
FLAG_PRIORITY_EXTENSION = "http://hl7.org/fhir/StructureDefinition/flag-priority"
FLAG_PRIORITY = "http://hl7.org/fhir/flag-priority-code"
AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
AUDIT_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
ERROR_CODES = "urn:telemed:error-code"


def instant(value: datetime) -> str:
    """A FHIR instant/dateTime in UTC with a ``Z`` (seconds, or microseconds when present)."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def fhir_date(value: date) -> str:
    """A FHIR date."""
    return value.isoformat()


def coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    """A Coding (display only when given)."""
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def reference(kind: str, ident: str, display: str | None = None) -> dict[str, str]:
    """A relative literal Reference such as ``Patient/123``."""
    out = {"reference": f"{kind}/{ident}"}
    if display:
        out["display"] = display
    return out


def base_url(request: web.Request) -> str:
    """The absolute FHIR base, from the public URL users reach (behind any proxy)."""
    public = request.app[keys.SETTINGS].effective_public_url.rstrip("/")
    return f"{public}{BASE_PATH}"


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def fhir_response(
    resource: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A FHIR JSON response (``application/fhir+json; charset=utf-8``)."""
    return web.Response(text=_dumps(resource), status=status, content_type=FHIR_JSON,
                        charset="utf-8", headers=headers)
