"""Patient pages: the caller's patients, registering a patient, one patient's page."""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web
from yarl import URL

from telemed import keys
from telemed.errors import ApiError
from telemed.principal import CLINICIANS, REQUEST_ID, ROLES, STAFF, principal, requires
from telemed.services import careplans as careplan_service
from telemed.services import consent as consent_service
from telemed.services import patients as service
from telemed.services import questionnaires as questionnaire_service
from telemed.services.access import authorize_patient
from telemed.services.pagination import encode_cursor, parse_page
from telemed.views.documents import documents_panel
from telemed.views.forms import (
    N_,
    Form,
    FormErrors,
    form_context,
    parse_date,
    read_form,
    refusal_errors,
    simple_field,
)
from telemed.views.questionnaires import response_row
from telemed.views.render import flash, language_of, render, see_other
from telemed.views.visits.panel import visit_panel
from telemed.views.vitals.panel import vitals_panel

routes = web.RouteTableDef()

PAGE_SIZE = 50
NOTICE_LIMIT = 20  # withdrawals named on the first page; "and more" beyond
FIELDS: dict[str, str] = {  # in the order of the form
    "given_name": N_("Given name"),
    "family_name": N_("Family name"),
    "birth_date": N_("Date of birth"),
    "sex": N_("Sex"),
    "fiscal_code": N_("Fiscal code"),
    "phone": N_("Phone"),
    "timezone": N_("Time zone"),
}


@routes.get("/patients", name="patients")
@requires(*STAFF)
async def patients_list(request: web.Request) -> web.Response:
    await language_of(request)
    search = request.query.get("q", "").strip()[:100]
    page = parse_page({"limit": str(PAGE_SIZE), "cursor": request.query.get("cursor", "")},
                      key_length=3)
    who = principal(request)
    async with request.app[keys.SESSIONS]() as session:
        found = await service.list_patients(session, who, page, search or None,
                                            request[REQUEST_ID])
        notices, more_notices = (
            await consent_service.withdrawn_page(session, who, limit=NOTICE_LIMIT)
            if "cursor" not in request.query and not search else ([], False))
    next_url = None
    if len(found) == page.limit:
        last = found[-1]
        cursor = encode_cursor([last.family_name, last.given_name, last.id])
        next_url = str(URL("/patients").with_query({"q": search, "cursor": cursor}
                                                  if search else {"cursor": cursor}))
    today = date.today()
    rows = [{"patient": p, "age": service.age_on(p.birth_date, today)} for p in found]
    return await render(request, "patients.html", {
        "rows": rows, "search": search, "next_url": next_url,
        "first_page": "cursor" not in request.query,
        "withdrawn": notices,
        "more_withdrawn": more_notices,
        "reviews": who.role in ("admin", "doctor"),
    })


async def _new_patient_page(request: web.Request, form: Form, errors: FormErrors,
                            status: int = 200) -> web.Response:
    return await render(request, "patient_new.html",
                        form_context(request, form, errors, FIELDS, ordered=True), status=status)


@routes.get("/patients/new", name="patient_new")
@requires(*STAFF)
async def patient_new_form(request: web.Request) -> web.Response:
    await language_of(request)
    return await _new_patient_page(request, {"timezone": "Europe/Rome"}, FormErrors())


def _patient_data(form: Form) -> dict[str, Any]:
    raw_birth = form.get("birth_date", "").strip()
    phone = form.get("phone", "").strip()
    return {
        "fiscal_code": form.get("fiscal_code", ""),
        "given_name": form.get("given_name", ""),
        "family_name": form.get("family_name", ""),
        "birth_date": parse_date(raw_birth) or raw_birth,
        "sex": form.get("sex", ""),
        "phone": phone or None,
        "timezone": form.get("timezone", "").strip() or "Europe/Rome",
    }


@routes.post("/patients/new")
@requires(*STAFF)
async def patient_new_submit(request: web.Request) -> web.Response:
    await language_of(request)
    form = await read_form(request)
    try:
        async with request.app[keys.SESSIONS]() as session:
            patient = await service.create_patient(session, principal(request),
                                                   _patient_data(form), request[REQUEST_ID])
    except ApiError as exc:
        errors = refusal_errors(request, exc, simple_field(FIELDS),
                                {"fiscal_code_taken": "fiscal_code"})
        return await _new_patient_page(request, form, errors, status=exc.status)
    await flash(request, "Patient registered.")
    raise see_other(f"/patients/{patient.id}")


@routes.get("/patients/{patient_id}", name="patient")
@requires(*ROLES)
async def patient_page(request: web.Request) -> web.Response:
    await language_of(request)
    who = principal(request)
    patient_id = request.match_info["patient_id"]
    async with request.app[keys.SESSIONS]() as session:
        try:
            patient = await service.get_patient(session, who, patient_id, request[REQUEST_ID])
        except ApiError as exc:
            if exc.status != 403 or not who.is_clinician:
                raise
            notice = next(iter(await consent_service.withdrawn_notices(
                session, who, patient_id=patient_id)), None)
            if notice is None:
                raise
            # Not a bare 403: the care team learns the fact and the date, and what it may do.
            return await render(request, "patient_withdrawn.html", {"withdrawal": notice},
                                status=403)
        plans: list[Any] = []
        team: list[Any] = []
        answered: list[Any] = []
        if who.role != "admin":  # administrators see demographics only
            plans = await careplan_service.list_careplans(session, who, patient_id)
            await authorize_patient(session, who, patient_id, action="read",
                                    resource="careteam", request_id=request[REQUEST_ID])
            team = await service.care_team(session, patient_id)
            await session.commit()
            answered = await questionnaire_service.responses(
                session, who, patient_id, limit=10, request_id=request[REQUEST_ID])
    vitals = await vitals_panel(request, patient) if who.role != "admin" else {}
    visits = await visit_panel(request, patient_id) if who.role != "admin" else {}
    docs = await documents_panel(request, patient_id, plans) if who.role != "admin" else {}
    return await render(request, "patient.html", {
        **vitals,
        **visits,
        **docs,
        "patient": patient,
        "age": service.age_on(patient.birth_date, date.today()),
        "plans": plans,
        "team": team,
        "can_plan": who.role in CLINICIANS,
        "clinical": who.role != "admin",
        "questionnaire_responses": [response_row(request, r) for r in answered]
        if who.role != "admin" else [],
    })
