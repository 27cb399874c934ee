"""The CapabilityStatement of /fhir/R4/metadata, built from the served resource specs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from telemed.api.fhir.common import FHIR_JSON, FHIR_VERSION, instant
from telemed.api.fhir.search import DEFAULT_COUNT, MAX_COUNT
from telemed.api.fhir.spec import ResourceSpec

SECURITY = (
    "Bearer access token from POST /api/v1/auth/token (or the web session cookie). Doctors "
    "and nurses see the patients of their care teams who consented; patients see their own "
    "record; administrators see demographics (Patient) and access logs (AuditEvent) only. "
    "Every read is recorded in the patient's access log."
)
PAGING = (
    f"Searches return Bundle searchset pages of _count entries (default {DEFAULT_COUNT}, "
    f"at most {MAX_COUNT}); follow the 'next' link (opaque _cursor). Unknown parameters are "
    "ignored unless the request carries 'Prefer: handling=strict'. Read-only: no writes."
)


def _resource(spec: ResourceSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"type": spec.type}
    if spec.profile:
        out["profile"] = spec.profile
    if spec.supported_profiles:
        out["supportedProfile"] = list(spec.supported_profiles)
    if spec.documentation:
        out["documentation"] = spec.documentation
    out |= {
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "versioning": "no-version",
        "readHistory": False,
        "updateCreate": False,
        "searchParam": [
            {"name": p.name, "type": p.type, "documentation": p.documentation}
            for p in spec.params
        ],
    }
    return out


def capability_statement(
    specs: Sequence[ResourceSpec], *, base: str, version: str, date: datetime,
    extra: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """What this server does: FHIR R4, JSON, read and search of each resource type."""
    return {
        "resourceType": "CapabilityStatement",
        "id": "telemed",
        "url": f"{base}/metadata",
        "version": version,
        "name": "TelemedFHIR",
        "title": "Telemed FHIR R4 API (read-only)",
        "status": "active",
        "experimental": False,
        "date": instant(date),
        "publisher": "Telemed",
        "kind": "instance",
        "software": {"name": "Telemed", "version": version},
        "implementation": {"description": "Telemed telemedicine platform", "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": [FHIR_JSON, "json"],
        "rest": [{
            "mode": "server",
            "documentation": PAGING,
            "security": {"cors": False, "description": SECURITY},
            "resource": [*(_resource(spec) for spec in specs), *extra],
        }],
    }
