"""Validate FHIR JSON with the R4-compatible models of fhir.resources (R4B subpackage)."""

from __future__ import annotations

import json
from typing import Any

from fhir.resources.R4B import get_fhir_model_class


def validate(resource: dict[str, Any]) -> Any:
    """Parse ``resource`` with its R4B model (extra or malformed elements fail); also every
    resource inside a Bundle. Returns the model."""
    data = json.loads(json.dumps(resource))  # exactly what goes on the wire
    model = get_fhir_model_class(data["resourceType"]).model_validate(data)
    for entry in data.get("entry", []):
        validate(entry["resource"])
    return model
