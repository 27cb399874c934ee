"""Care plans (PAI): drafts, activation, versioning on edit, completion."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.bus.events import AccessChanged, CareplanChanged
from telemed.db.events import record_event
from telemed.db.models import CarePlan
from telemed.db.types import new_id, utcnow
from telemed.domain.audit_reasons import Reason, because
from telemed.domain.careplans import parse_careplan_content
from telemed.domain.errors import DomainValidationError
from telemed.domain.local_time import DEFAULT_ZONE
from telemed.errors import N_, ApiError, conflict, from_domain, invalid, not_found
from telemed.principal import Principal
from telemed.services import audit, documents, free_text
from telemed.services.access import authorize_patient
from telemed.services.patients import add_to_care_team

CONTENT_KEYS = ("goals", "care_team", "monitoring", "trends", "news2", "silence_hours",
                "escalate_after_minutes", "page_warnings", "questionnaires")


def _check_header(title: str, period_start: date, period_end: date | None) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not title.strip() or len(title) > 200:
        errors["title"] = N_("Title is required (at most 200 characters).")
    elif (bad := free_text.problem(title)) is not None:
        errors["title"] = bad
    if period_end is not None and period_end < period_start:
        errors["period_end"] = N_("The end of the period comes before its start.")
    return errors


def _content(data: dict[str, Any]) -> dict[str, Any]:
    """Validated, normalized plan content; 422 with every field problem."""
    raw = {k: data[k] for k in CONTENT_KEYS if k in data and data[k] is not None}
    try:
        return parse_careplan_content(raw).to_dict()
    except DomainValidationError as exc:
        raise from_domain(exc) from None


def _validate(data: dict[str, Any]) -> dict[str, Any]:
    header_errors = _check_header(data["title"], data["period_start"], data.get("period_end"))
    try:
        content = _content(data)
    except Exception as exc:
        fields = getattr(exc, "fields", {})
        if not header_errors:
            raise
        raise invalid({**header_errors, **fields}) from None
    if header_errors:
        raise invalid(header_errors)
    return content


async def create_careplan(
    session: AsyncSession, who: Principal, patient_id: str, data: dict[str, Any]
) -> CarePlan:
    """A new draft plan (version 1); its care team joins the patient's care team."""
    await authorize_patient(session, who, patient_id, action="create", resource="careplan")
    content = _validate(data)
    if who.user_id not in content["care_team"]:
        content["care_team"] = [who.user_id, *content["care_team"]]
    await add_to_care_team(session, patient_id, content["care_team"])
    plan = CarePlan(
        plan_id=new_id(),
        version=1,
        patient_id=patient_id,
        status="draft",
        title=data["title"].strip(),
        period_start=data["period_start"],
        period_end=data.get("period_end"),
        content=content,
        created_by=who.user_id,
    )
    session.add(plan)
    await session.flush()
    audit.record(session, actor=who, action="create", resource="careplan",
                 patient_id=patient_id, resource_id=plan.plan_id)
    record_event(session, AccessChanged(plan.patient_id))
    await session.commit()
    return plan


async def _current(session: AsyncSession, plan_id: str) -> CarePlan:
    result = await session.exec(
        select(CarePlan).where(CarePlan.plan_id == plan_id).where(col(CarePlan.is_current))
    )
    plan = result.first()
    if plan is None:
        raise not_found("Care plan")
    return plan


async def get_careplan(
    session: AsyncSession, who: Principal, plan_id: str, version: int | None = None
) -> CarePlan:
    """The current version of a plan, or a given older version."""
    plan = await _current(session, plan_id)
    await authorize_patient(session, who, plan.patient_id, action="read", resource="careplan",
                            resource_id=plan_id)
    if version is not None and version != plan.version:
        found = (
            await session.exec(
                select(CarePlan)
                .where(CarePlan.plan_id == plan_id)
                .where(CarePlan.version == version)
            )
        ).first()
        if found is None:
            raise not_found("Care plan version")
        plan = found
    await session.commit()
    return plan


async def list_versions(session: AsyncSession, who: Principal, plan_id: str) -> list[CarePlan]:
    """Every version of a plan, newest first."""
    plan = await _current(session, plan_id)
    await authorize_patient(session, who, plan.patient_id, action="read", resource="careplan",
                            resource_id=plan_id)
    result = await session.exec(
        select(CarePlan).where(CarePlan.plan_id == plan_id).order_by(col(CarePlan.version).desc())
    )
    await session.commit()
    return list(result.all())


async def list_careplans(session: AsyncSession, who: Principal, patient_id: str) -> list[CarePlan]:
    """A patient's plans (current versions), newest first."""
    await authorize_patient(session, who, patient_id, action="read", resource="careplan")
    result = await session.exec(
        select(CarePlan)
        .where(CarePlan.patient_id == patient_id)
        .where(col(CarePlan.is_current))
        .order_by(col(CarePlan.created_at).desc())
    )
    await session.commit()
    return list(result.all())


async def update_careplan(
    session: AsyncSession, who: Principal, plan_id: str, data: dict[str, Any]
) -> CarePlan:
    """Edit a plan: a draft changes in place, an active plan gets a new version."""
    plan = await _current(session, plan_id)
    await authorize_patient(session, who, plan.patient_id, action="update",
                            resource="careplan", resource_id=plan_id)
    if plan.status == "completed":
        raise conflict("A completed care plan cannot be changed.", "careplan_completed")
    merged = {
        "title": plan.title,
        "period_start": plan.period_start,
        "period_end": plan.period_end,
        **plan.content,
        **data,
    }
    content = _validate(merged)
    await add_to_care_team(session, plan.patient_id, content["care_team"])
    if plan.status == "draft":
        plan.title = merged["title"].strip()
        plan.period_start = merged["period_start"]
        plan.period_end = merged.get("period_end")
        plan.content = content
        session.add(plan)
        result = plan
    else:
        now = utcnow()
        plan.is_current = False
        plan.superseded_at = now
        session.add(plan)
        await session.flush()
        result = CarePlan(
            plan_id=plan.plan_id,
            version=plan.version + 1,
            patient_id=plan.patient_id,
            status="active",
            title=merged["title"].strip(),
            period_start=merged["period_start"],
            period_end=merged.get("period_end"),
            content=content,
            created_by=who.user_id,
            activated_at=now,
        )
        session.add(result)
    audit.record(session, actor=who, action="update", resource="careplan",
                 patient_id=plan.patient_id, resource_id=plan_id,
                 reason=because("careplan_version", version=result.version))
    return await _save_changed(session, result)


async def _transition(session: AsyncSession, who: Principal, plan_id: str, *, reason: Reason,
                      expected: str, refusal: tuple[str, str]) -> CarePlan:
    """The current version of `plan_id`, authorised for `reason`, when its status is
    `expected`; else 409 with the `refusal` (translation key, English template)."""
    plan = await _current(session, plan_id)
    await authorize_patient(session, who, plan.patient_id, action="update",
                            resource="careplan", resource_id=plan_id, reason=reason)
    if plan.status != expected:
        key, message = refusal
        raise ApiError(409, "invalid_status", message, params={"status": plan.status}, key=key)
    return plan


async def _save_changed(session: AsyncSession, plan: CarePlan) -> CarePlan:
    """Store `plan`; ingest workers hear of it once the change is committed."""
    session.add(plan)
    record_event(session, CareplanChanged(plan.patient_id, plan.plan_id, plan.version))
    await session.commit()
    return plan


async def activate_careplan(session: AsyncSession, who: Principal, plan_id: str) -> CarePlan:
    """Draft → active; the patient's previously active plan is completed."""
    plan = await _transition(session, who, plan_id, reason=because("careplan_activate"),
                             expected="draft",
                             refusal=("careplan_not_draft", N_(
                                 "Only a draft can be activated; this plan is {status}.")))
    now = utcnow()
    others = await session.exec(
        select(CarePlan)
        .where(CarePlan.patient_id == plan.patient_id)
        .where(CarePlan.status == "active")
        .where(col(CarePlan.is_current))
    )
    for other in others.all():
        other.status = "completed"
        other.completed_at = now
        session.add(other)
        audit.record(session, actor=who, action="update", resource="careplan",
                     patient_id=plan.patient_id, resource_id=other.plan_id,
                     reason=because("careplan_superseded"))
    plan.status = "active"
    plan.activated_at = now
    return await _save_changed(session, plan)


async def complete_careplan(session: AsyncSession, who: Principal, plan_id: str, *,
                            timezone: str = DEFAULT_ZONE) -> CarePlan:
    """Active → completed; with monitoring, its final report is drafted from the data
    (a ``monitoring_final_report`` document by whoever completed it, to review and sign)."""
    plan = await _transition(session, who, plan_id, reason=because("careplan_complete"),
                             expected="active",
                             refusal=("careplan_not_active", N_(
                                 "Only an active plan can be completed; this plan is {status}.")))
    plan.status = "completed"
    plan.completed_at = utcnow()
    saved = await _save_changed(session, plan)
    if who.is_clinician and saved.content.get("monitoring"):
        # The final report (relazione finale), drafted from the data for the doctor to sign.
        await documents.draft_monitoring_report(session, who, plan_id,
                                                "monitoring_final_report", timezone=timezone)
    return saved


async def active_careplan(session: AsyncSession, patient_id: str) -> CarePlan | None:
    """The patient's active plan (current version), used by the rules. Not audited: system."""
    result = await session.exec(
        select(CarePlan)
        .where(CarePlan.patient_id == patient_id)
        .where(CarePlan.status == "active")
        .where(col(CarePlan.is_current))
    )
    return result.first()
