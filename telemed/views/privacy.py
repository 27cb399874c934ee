"""The privacy page of a patient's record: consent (what is in force, truthfully), emergency
accesses and their review, delegations (an administrator's shown as a notice), the access
log; the confirmation step before withdrawing consent; and "log out everywhere"."""

from __future__ import annotations

from aiohttp import web

from telemed import keys
from telemed.domain import audit_reasons
from telemed.domain.audit_reasons import Reason
from telemed.errors import ApiError
from telemed.principal import ROLES, principal, requires
from telemed.services import consent as service
from telemed.services import delegates as delegate_service
from telemed.services.access import monitoring_clinicians
from telemed.services.users import end_all_sessions_of, users_by_id
from telemed.views.labels import LABELS, label
from telemed.views.render import (
    LANGUAGE,
    N_,
    flash,
    flash_problems,
    language_of,
    render,
    see_other,
    t,
)

routes = web.RouteTableDef()

LOG_PAGE = 100

ACTIONS: dict[str, str] = {  # every audit.Action (a unit test checks)
    "read": N_("Read"), "create": N_("Created"), "update": N_("Changed"),
    "delete": N_("Deleted"), "export": N_("Downloaded"), "login": N_("Logged in"),
    "emergency": N_("Opened in an emergency")}
EMERGENCY_REASONS: dict[str, str] = {  # every domain.emergency.ReasonCode (a unit test checks)
    code: word for (name, code), word in audit_reasons.WORDS.items() if name == "grounds"}
REVIEW_OUTCOMES: dict[str, str] = {"confirmed": N_("confirmed"), "flagged": N_("flagged")}
RESOURCES: dict[str, str] = {  # every audit.Resource (a unit test checks)
    "patient": N_("personal details"), "careplan": N_("care plan"),
    "careteam": N_("care team"), "consent": N_("consent"), "access_log": N_("access log"),
    "observation": N_("measurements"), "alert": N_("alerts"), "device": N_("devices"),
    "visit": N_("visits"), "visit_guest": N_("visit guests"),
    "visit_report": N_("visit reports"), "document": N_("clinical documents"),
    "delegation": N_("delegates"),
    "user": N_("user account"), "emergency_review": N_("emergency access review"),
    "fhir_appointment": N_("appointments (FHIR)"),
    "fhir_careplan": N_("care plans (FHIR)"), "fhir_flag": N_("alert flags (FHIR)"),
    "fhir_observation": N_("measurements (FHIR)"),
    "questionnaire_response": N_("questionnaire answers"),
    "fhir_questionnaire_response": N_("questionnaire answers (FHIR)"),
    "teleconsult": N_("teleconsults"), "attachment": N_("attachments"),
    "study": N_("diagnostic images"), "series": N_("a series of diagnostic images")}


def describe(request: web.Request, action: str, resource: str) -> str:
    """"Read · care plan" in the page's language; names from older versions shown as stored."""
    verb, thing = ACTIONS.get(action), RESOURCES.get(resource)
    return (f"{t(request, verb) if verb else action} · "
            f"{t(request, thing) if thing else resource.replace('_', ' ')}")


def why(request: web.Request, reason: Reason | None) -> str:
    """An audit reason (a code and its parameters) said in the page's language."""
    if reason is None:
        return ""
    params = {name: label(request[LANGUAGE], name, value) if name in LABELS else value
              for name, value in reason.params.items()}  # a relationship, as a word
    return audit_reasons.say(reason.code, params, lambda msgid: t(request, msgid))


def reason_label(request: web.Request, code: str) -> str:
    """The emergency reason code in the page's language (older rows: "not recorded")."""
    label = EMERGENCY_REASONS.get(code)
    return t(request, label) if label else t(request, "not recorded")


@routes.get("/patients/{patient_id}/privacy")
@requires("patient", "admin")
async def privacy_page(request: web.Request) -> web.Response:
    patient_id = request.match_info["patient_id"]
    who = principal(request)
    await language_of(request)
    async with request.app[keys.SESSIONS]() as session:
        consents = await service.list_consents(session, who, patient_id)
        log, _ = await service.access_log(session, who, patient_id, limit=LOG_PAGE)
        emergencies = await service.emergency_accesses(session, patient_id)
        delegations = await delegate_service.list_delegations(session, who, patient_id)
        state = service.consent_in_force(consents)
        people = await users_by_id(session, {c.grantee_id for c in consents if c.grantee_id}
                               | {c.recorded_by for c in consents}
                               | {e.user_id for e in emergencies}
                               | {e.reviewed_by for e in emergencies if e.reviewed_by}
                               | {d.granted_by for d, _ in delegations})
    names = {uid: u.display_name for uid, u in people.items()}
    active = [(d, u) for d, u in delegations if d.revoked_at is None]
    return await render(request, "privacy.html", {
        "patient_id": patient_id,
        "consents": consents,
        "state": state,
        "general_consent": state.blanket,
        "names": names,
        "by_admin": {uid for uid, u in people.items() if u.role == "admin"},
        "log": [(entry, describe(request, entry.action, entry.resource), why(request, entry.reason))
                for entry in log],
        "emergencies": [(e, reason_label(request, e.reason_code),
                         t(request, REVIEW_OUTCOMES[e.review_outcome])
                         if e.review_outcome in REVIEW_OUTCOMES else None)
                        for e in emergencies],
        "delegations": active,
        "admin_delegations": [(d, u) for d, u in delegations if d.request_note],
        "relationships": delegate_service.RELATIONSHIPS,
        "csv_url": f"/api/v1/patients/{patient_id}/access-log?format=csv&limit=1000",
    })


@routes.get("/patients/{patient_id}/privacy/withdraw")
@requires("patient", "admin")
async def privacy_withdraw_confirm(request: web.Request) -> web.Response:
    """The confirmation step before withdrawing consent: what it means for telemonitoring,
    visits, personal permissions and emergencies."""
    patient_id = request.match_info["patient_id"]
    who = principal(request)
    await language_of(request)
    async with request.app[keys.SESSIONS]() as session:
        consents = await service.list_consents(session, who, patient_id)
        monitors = await users_by_id(
            session, set(await monitoring_clinicians(session, patient_id)))
    state = service.consent_in_force(consents)
    personal = {c.grantee_id for c in consents if c.grantee_id and c.granted}
    return await render(request, "privacy_withdraw.html", {
        "patient_id": patient_id,
        "already_withdrawn": not state.blanket,
        "monitors": sorted(u.display_name for u in monitors.values()),
        "has_personal_grants": bool(personal),
    })


@routes.post("/patients/{patient_id}/privacy/consent")
@requires("patient", "admin")
async def privacy_consent(request: web.Request) -> web.Response:
    patient_id = request.match_info["patient_id"]
    form = await request.post()
    decision = form.get("granted")
    if decision not in ("yes", "no"):
        raise ApiError(400, "bad_request", "Choose whether to allow or refuse.")
    if decision == "no" and form.get("confirm") != "yes":
        # Withdrawing is never one click: the patient first reads what it means.
        raise see_other(f"/patients/{patient_id}/privacy/withdraw")
    note = form.get("note")
    note = note.strip() if isinstance(note, str) and note.strip() else None
    async with request.app[keys.SESSIONS]() as session:
        try:
            await service.decide_consent(session, principal(request), patient_id,
                                         granted=decision == "yes", grantee_id=None,
                                         note=note)
        except ApiError as exc:
            if exc.status != 422:
                raise
            raise await flash_problems(request, exc, f"/patients/{patient_id}/privacy") from None
    granted_msg = N_("Your choice has been recorded.")
    refused_msg = N_("Your choice has been recorded: your care team can no longer open "
                     "your record. Your responsible doctor still receives the alerts of "
                     "your telemonitoring.")
    granted = decision == "yes"
    message = granted_msg if granted else refused_msg
    await flash(request, message)
    raise see_other(f"/patients/{patient_id}/privacy")


@routes.post("/patients/{patient_id}/privacy/delegates")
@requires("patient", "admin")
async def privacy_add_delegate(request: web.Request) -> web.Response:
    patient_id = request.match_info["patient_id"]
    form = await request.post()
    username = form.get("delegate_username")
    relationship = form.get("relationship")
    request_note = form.get("request_note")
    async with request.app[keys.SESSIONS]() as session:
        try:
            await delegate_service.grant(
                session, principal(request), patient_id,
                delegate_username=username if isinstance(username, str) else "",
                relationship=relationship if isinstance(relationship, str) else "",
                request_note=request_note if isinstance(request_note, str) else None)
        except ApiError as exc:
            if exc.status not in (409, 422):
                raise
            raise await flash_problems(request, exc, f"/patients/{patient_id}/privacy") from None
    await flash(request, N_("The person you chose can now see this record."))
    raise see_other(f"/patients/{patient_id}/privacy")


@routes.post("/patients/{patient_id}/privacy/delegates/{delegation_id}/revoke")
@requires("patient", "admin")
async def privacy_revoke_delegate(request: web.Request) -> web.Response:
    patient_id = request.match_info["patient_id"]
    async with request.app[keys.SESSIONS]() as session:
        await delegate_service.revoke(session, principal(request), patient_id,
                                      request.match_info["delegation_id"])
    await flash(request, N_("That person can no longer see this record."))
    raise see_other(f"/patients/{patient_id}/privacy")


@routes.post("/account/logout-everywhere")
@requires(*ROLES)
async def logout_everywhere(request: web.Request) -> web.Response:
    who = principal(request)
    async with request.app[keys.SESSIONS]() as session:
        await end_all_sessions_of(session, who.user_id)
    raise see_other("/login")
