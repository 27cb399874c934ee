"""Care-plan (PAI) pages: the editor (new, edit), the read-only view with versions, status."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import date
from typing import Any

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed import keys
from telemed.db.models import CarePlan, Patient, User
from telemed.domain.careplans import parse_careplan_content
from telemed.domain.errors import DomainValidationError, FieldError
from telemed.domain.questionnaires import CATALOGUE as QUESTIONNAIRES
from telemed.domain.units import CLINICAL_METRICS, METRICS
from telemed.errors import ApiError, conflict, from_domain
from telemed.principal import CARE_READERS, CLINICIANS, REQUEST_ID, principal, requires
from telemed.services import careplans as service
from telemed.services import patients as patient_service
from telemed.services.access import authorize_patient
from telemed.views import careplan_form as cf
from telemed.views.forms import Form, FormErrors, read_form
from telemed.views.render import flash, language_of, render, see_other, t, t_error, tn

routes = web.RouteTableDef()


# --- the editor ------------------------------------------------------------------------


def _collect(request: web.Request, sub: cf.Submission, fields: Mapping[str, str | FieldError],
             errors: FormErrors) -> None:
    for path, message in fields.items():
        text = t_error(request, message)
        line = cf.goal_line(path)
        if line is not None:
            text = t(request, "Line {n}: {message}", n=line, message=text)
        errors.add(cf.field_for_path(sub, path), text)


def _local_errors(request: web.Request, sub: cf.Submission) -> FormErrors:
    """Errors of a form whose dates cannot be read: the service cannot be asked, so the
    content is checked by the same domain rules without saving anything."""
    errors = FormErrors()
    fields: dict[str, str | FieldError] = dict(sub.local_errors)
    if not str(sub.data.get("title", "")).strip():
        fields["title"] = "Title is required (at most 200 characters)."
    content = {k: sub.data[k] for k in service.CONTENT_KEYS if sub.data.get(k) is not None}
    try:
        parse_careplan_content(content)
    except DomainValidationError as exc:
        fields.update(from_domain(exc).problems)
    _collect(request, sub, fields, errors)
    return errors


async def _editor(request: web.Request, *, patient: Patient, plan: CarePlan | None,
                  form: Form, errors: FormErrors, status: int = 200) -> web.Response:
    def tr(message: str) -> str:
        return t(request, message)

    return await render(request, "careplan_edit.html", {
        "patient": patient,
        "plan": plan,
        "form": form,
        "errors": errors,
        "summary": errors.summary(lambda field_id: cf.field_label(field_id, tr),
                                  cf.field_order),
        "metrics": cf.metric_rows(tr),
        "questionnaire_rows": cf.questionnaire_rows(tr),
        "band_labels": {key: tr(label) for key, label in cf.BAND_LABELS.items()},
        "trend_rows": range(cf.trend_row_count(form)),
        "metric_options": [(name, tr(METRICS[name].display_name)) for name in CLINICAL_METRICS],
        "action": (f"/careplans/{plan.plan_id}/edit" if plan
                   else f"/patients/{patient.id}/careplans/new"),
        "cancel": f"/careplans/{plan.plan_id}" if plan else f"/patients/{patient.id}",
    }, status=status)


async def _patient(request: web.Request, patient_id: str) -> Patient:
    async with request.app[keys.SESSIONS]() as session:
        return await patient_service.get_patient(session, principal(request), patient_id,
                                                 request[REQUEST_ID])


async def _current_plan(request: web.Request) -> tuple[CarePlan, Patient]:
    async with request.app[keys.SESSIONS]() as session:
        plan = await service.get_careplan(session, principal(request),
                                          request.match_info["plan_id"])
    if plan.status == "completed":
        raise conflict("A completed care plan cannot be changed.", "careplan_completed")
    return plan, await _patient(request, plan.patient_id)


@routes.get("/patients/{patient_id}/careplans/new", name="careplan_new")
@requires(*CLINICIANS)
async def careplan_new_form(request: web.Request) -> web.Response:
    await language_of(request)
    patient = await _patient(request, request.match_info["patient_id"])
    return await _editor(request, patient=patient, plan=None, form=cf.new_form(date.today()),
                         errors=FormErrors())


async def _saved(request: web.Request, *, patient: Patient, plan: CarePlan | None, form: Form,
                 sub: cf.Submission,
                 save: Callable[[AsyncSession], Awaitable[CarePlan]]) -> CarePlan | web.Response:
    """The plan `save` stored, or the editor again with what is wrong (422)."""
    if sub.local_errors:
        return await _editor(request, patient=patient, plan=plan, form=form,
                             errors=_local_errors(request, sub), status=422)
    try:
        async with request.app[keys.SESSIONS]() as session:
            return await save(session)
    except ApiError as exc:
        if exc.status != 422:
            raise
        errors = FormErrors()
        _collect(request, sub, {p.path: p for p in exc.messages()}, errors)
        return await _editor(request, patient=patient, plan=plan, form=form, errors=errors,
                             status=422)


@routes.post("/patients/{patient_id}/careplans/new")
@requires(*CLINICIANS)
async def careplan_new_submit(request: web.Request) -> web.Response:
    await language_of(request)
    patient = await _patient(request, request.match_info["patient_id"])
    form = await read_form(request)
    sub = cf.read_submission(form)
    plan = await _saved(request, patient=patient, plan=None, form=form, sub=sub,
                        save=lambda session: service.create_careplan(
                            session, principal(request), patient.id, sub.data))
    if isinstance(plan, web.Response):
        return plan
    await flash(request, "Care plan saved as a draft.")
    raise see_other(f"/careplans/{plan.plan_id}")


@routes.get("/careplans/{plan_id}/edit", name="careplan_edit")
@requires(*CLINICIANS)
async def careplan_edit_form(request: web.Request) -> web.Response:
    await language_of(request)
    plan, patient = await _current_plan(request)
    return await _editor(request, patient=patient, plan=plan, form=cf.form_from_plan(plan),
                         errors=FormErrors())


@routes.post("/careplans/{plan_id}/edit")
@requires(*CLINICIANS)
async def careplan_edit_submit(request: web.Request) -> web.Response:
    await language_of(request)
    plan, patient = await _current_plan(request)
    form = await read_form(request)
    sub = cf.read_submission(form)
    if form.get("base_version") != str(plan.version):
        errors = FormErrors()
        errors.add(None, t(request, "Someone saved this plan while you were editing it (it is "
                                    "now version {version}). Check your changes and save "
                                    "again.", version=plan.version))
        form["base_version"] = str(plan.version)
        return await _editor(request, patient=patient, plan=plan, form=form, errors=errors,
                             status=409)
    saved = await _saved(request, patient=patient, plan=plan, form=form, sub=sub,
                         save=lambda session: service.update_careplan(
                             session, principal(request), plan.plan_id, sub.data))
    if isinstance(saved, web.Response):
        return saved
    if saved.version > plan.version:
        await flash(request, "Saved as version {version}.", version=saved.version)
    else:
        await flash(request, "Draft saved.")
    raise see_other(f"/careplans/{saved.plan_id}")


# --- the read-only view and status changes ---------------------------------------------


def _requested_version(request: web.Request) -> int | None:
    raw = request.query.get("version")
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9 or int(raw) < 1:
        raise ApiError(400, "invalid_version", "The version must be a positive whole number.")
    return int(raw)


def plan_view(request: web.Request, plan: CarePlan) -> dict[str, Any]:
    """The plan content as the read-only page shows it."""
    content = plan.content
    entries = []
    for entry in content.get("monitoring", []):
        info = METRICS[entry["metric"]]
        bands = entry.get("bands")
        entries.append({
            "name": t(request, info.display_name),
            "unit": t(request, info.display_unit),
            "schedule": entry.get("schedule", {}),
            "bands": {k: cf.fmt_number(v) for k, v in (bands or {}).items()},
            "default_bands": bands is None,
            "defaults": {k: cf.fmt_number(v) for k, v in info.default_bands.to_dict().items()},
            "confirm_count": entry.get("confirm_count", 1),
            "hysteresis": cf.fmt_number(entry.get("hysteresis", 0)),
        })
    trends = []
    for trend in content.get("trends", []):
        info = METRICS[trend["metric"]]
        delta = trend["delta"]
        trends.append({
            "name": t(request, info.display_name),
            "delta": ("+" if delta > 0 else "") + cf.fmt_number(delta),
            "unit": t(request, info.display_unit),
            "window_hours": trend["window_hours"],
            "severity": trend.get("severity", "warning"),
        })
    return {
        "goals": content.get("goals", []),
        "entries": entries,
        "trends": trends,
        "news2": content.get("news2", {}),
        "silence_hours": content.get("silence_hours"),
        "escalate_after_minutes": content.get("escalate_after_minutes"),
        "team_ids": content.get("care_team", []),
        "questionnaires": [questionnaire_line(request, q)
                           for q in content.get("questionnaires", [])],
    }


def questionnaire_line(request: web.Request, entry: dict[str, Any]) -> str:
    """"Heart failure diary: every day; alert from a score of 4" in the page's language."""
    found = QUESTIONNAIRES.get(entry["code"])
    title = t(request, found.title) if found is not None else entry["code"]
    every = entry.get("schedule", {}).get("every_days", 1)
    text = tn(request, "{title}: every day", "{title}: every {n} days", every, title=title)
    alert = entry.get("alert", {}).get("score_at_least")
    if alert is not None:
        text = t(request, "{text}; alert from a score of {score} (and on any warning sign)",
                 text=text, score=alert)
    return text


@routes.get("/careplans/{plan_id}", name="careplan")
@requires(*CARE_READERS)
async def careplan_page(request: web.Request) -> web.Response:
    await language_of(request)
    who = principal(request)
    plan_id = request.match_info["plan_id"]
    version = _requested_version(request)
    async with request.app[keys.SESSIONS]() as session:
        plan = await service.get_careplan(session, who, plan_id, version)
        versions = await service.list_versions(session, who, plan_id)
        patient = await patient_service.get_patient(session, who, plan.patient_id,
                                                    request[REQUEST_ID])
        await authorize_patient(session, who, plan.patient_id, action="read",
                                resource="careteam", request_id=request[REQUEST_ID])
        team = await patient_service.care_team(session, plan.patient_id)
        await session.commit()
    names: dict[str, User] = {user.id: user for user in team}
    current = versions[0]
    return await render(request, "careplan.html", {
        "plan": plan,
        "patient": patient,
        "view": plan_view(request, plan),
        "versions": versions,
        "current": current,
        "is_current": plan.version == current.version,
        "members": names,
        "can_edit": who.role in CLINICIANS,
    })


async def _change_status(request: web.Request, action: str) -> web.Response:
    who = principal(request)
    plan_id = request.match_info["plan_id"]
    async with request.app[keys.SESSIONS]() as session:
        if action == "activate":
            await service.activate_careplan(session, who, plan_id)
            await flash(request, "Care plan activated.")
        else:
            await service.complete_careplan(session, who, plan_id,
                                            timezone=request.app[keys.SETTINGS].timezone)
            await flash(request, "Care plan completed.")
    raise see_other(f"/careplans/{plan_id}")


@routes.post("/careplans/{plan_id}/activate", name="careplan_activate")
@requires(*CLINICIANS)
async def careplan_activate(request: web.Request) -> web.Response:
    return await _change_status(request, "activate")


@routes.post("/careplans/{plan_id}/complete", name="careplan_complete")
@requires(*CLINICIANS)
async def careplan_complete(request: web.Request) -> web.Response:
    return await _change_status(request, "complete")
