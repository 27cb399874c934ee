"""Public JSON shapes of the resources (docs/api.md; the OpenAPI description has them all)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from telemed.db.models import CarePlan, Patient, User
from telemed.domain import digest
from telemed.notify import kinds


def iso(value: datetime | None) -> str | None:
    """ISO 8601 with offset."""
    return value.isoformat() if value is not None else None


def user_out(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "role": user.role,
        "display_name": user.display_name,
        "patient_id": user.patient_id,
        "active": user.active,
        "created_at": iso(user.created_at),
        "email": user.email,
        "phone": user.phone,
        "language": user.language,
        "notify": kinds.effective(user.notify_prefs),
        "notify_delivery": kinds.deliveries(user.digest_kinds),
        "digest_time": f"{digest.stored_time(user.digest_time):%H:%M}",
        "fiscal_code": user.fiscal_code,
    }


def patient_out(patient: Patient) -> dict[str, Any]:
    return {
        "id": patient.id,
        "fiscal_code": patient.fiscal_code,
        "given_name": patient.given_name,
        "family_name": patient.family_name,
        "birth_date": patient.birth_date.isoformat(),
        "sex": patient.sex,
        "phone": patient.phone,
        "timezone": patient.timezone,
    }


def careplan_out(plan: CarePlan) -> dict[str, Any]:
    content = plan.content
    return {
        "id": plan.plan_id,
        "patient_id": plan.patient_id,
        "version": plan.version,
        "status": plan.status,
        "title": plan.title,
        "period_start": plan.period_start.isoformat(),
        "period_end": plan.period_end.isoformat() if plan.period_end else None,
        "goals": content.get("goals", []),
        "care_team": content.get("care_team", []),
        "monitoring": content.get("monitoring", []),
        "trends": content.get("trends", []),
        "news2": content.get("news2", {"enabled": False, "spo2_scale": 1, "on_oxygen": False}),
        "silence_hours": content.get("silence_hours"),
        "escalate_after_minutes": content.get("escalate_after_minutes"),
        "questionnaires": content.get("questionnaires", []),
        "page_warnings": content.get("page_warnings"),
        "is_current": plan.is_current,
        "created_by": plan.created_by,
        "created_at": iso(plan.created_at),
        "activated_at": iso(plan.activated_at),
        "completed_at": iso(plan.completed_at),
        "superseded_at": iso(plan.superseded_at),
    }
