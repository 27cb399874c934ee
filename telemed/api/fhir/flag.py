"""Flag: an alert that needs attention (open or acknowledged); resolved alerts are inactive."""

from __future__ import annotations

from typing import Any

from telemed.api.fhir.common import (
    FLAG_CATEGORY,
    FLAG_PRIORITY,
    FLAG_PRIORITY_EXTENSION,
    coding,
    instant,
    reference,
)
from telemed.api.fhir.spec import loaded, record_spec, rendered
from telemed.db.models import Alert
from telemed.domain.units import METRICS
from telemed.services.fhir_rows import FLAG_STATUSES, FLAGS, by_id

ACTIVE_STATUSES = FLAG_STATUSES
PRIORITY = {"warning": ("PM", "Medium priority"), "critical": ("PH", "High priority")}
KIND_TEXT = {
    "threshold": "Out-of-range reading",
    "trend": "Trend",
    "missed_measurement": "Missed measurement",
    "device_silent": "Silent device",
    "news2": "NEWS2",
}


def flag_text(alert: Alert) -> str:
    """The alert's detail, or a description built from its kind and metric."""
    if alert.detail.strip():
        return alert.detail
    text = KIND_TEXT.get(alert.kind, alert.kind)
    info = METRICS.get(alert.metric or "")
    if info is not None:
        text += f": {info.display_name}"
    return f"{text} ({alert.severity})"


def flag_resource(alert: Alert) -> dict[str, Any]:
    """A FHIR R4 Flag from an alert."""
    active = alert.status in ACTIVE_STATUSES
    period = {"start": instant(alert.opened_at)}
    if not active and alert.resolved_at is not None:
        period["end"] = instant(alert.resolved_at)
    resource: dict[str, Any] = {
        "resourceType": "Flag",
        "id": alert.id,
        "meta": {"lastUpdated": instant(alert.updated_at)},
        "status": "active" if active else "inactive",
        "category": [{"coding": [coding(FLAG_CATEGORY, "clinical", "Clinical")],
                      "text": "Clinical"}],
        "code": {"text": flag_text(alert)},
        "subject": reference("Patient", alert.patient_id),
        "period": period,
    }
    if alert.severity in PRIORITY:
        code, display = PRIORITY[alert.severity]
        resource["extension"] = [{
            "url": FLAG_PRIORITY_EXTENSION,
            "valueCodeableConcept": {"coding": [coding(FLAG_PRIORITY, code, display)],
                                     "text": alert.severity},
        }]
    return resource


# --- search and read ----------------------------------------------------------------------


SPEC = record_spec(
    type="Flag",
    audit_resource="fhir_flag",
    table=FLAGS,
    key_types=("datetime", "str"),
    render=rendered(flag_resource),
    load=loaded(lambda session, ident: by_id(session, Alert, ident), flag_resource),
    documentation="Alerts that need attention (open or acknowledged), newest first; a "
                  "resolved alert read by id is an inactive Flag.",
)
