"""The privacy page of a patient's record: consent, emergency accesses, the access log;
and "log out everywhere" for every user."""

from __future__ import annotations

from aiohttp import web

from telemed import keys
from telemed.bus.events import access_changed
from telemed.db.models import User
from telemed.errors import ApiError
from telemed.live_channels import credentials_revoked
from telemed.principal import ROLES, principal, requires
from telemed.services import consent as service
from telemed.services import delegates as delegate_service
from telemed.services.users import end_all_sessions
from telemed.views.render import N_, flash, render, see_other, t, t_error

routes = web.RouteTableDef()

LOG_PAGE = 100

ACTIONS: dict[str, str] = {  # every audit.Action (a unit test checks)
    "read": N_("Read"), "create": N_("Created"), "update": N_("Changed"),
    "delete": N_("Deleted"), "export": N_("Downloaded"), "login": N_("Logged in"),
    "emergency": N_("Opened in an emergency")}
RESOURCES: dict[str, str] = {  # every audit.Resource (a unit test checks)
    "patient": N_("personal details"), "careplan": N_("care plan"),
    "careteam": N_("care team"), "consent": N_("consent"), "access_log": N_("access log"),
    "observation": N_("measurements"), "alert": N_("alerts"), "device": N_("devices"),
    "visit": N_("visits"), "visit_guest": N_("visit guests"),
    "visit_report": N_("visit reports"), "delegation": N_("delegates"),
    "user": N_("user account"), "fhir_appointment": N_("appointments (FHIR)"),
    "fhir_careplan": N_("care plans (FHIR)"), "fhir_flag": N_("alert flags (FHIR)"),
    "fhir_observation": N_("measurements (FHIR)")}


def describe(request: web.Request, action: str, resource: str) -> str:
    """"Read · care plan" in the page's language; names from older versions shown as stored."""
    verb, thing = ACTIONS.get(action), RESOURCES.get(resource)
    return (f"{t(request, verb) if verb else action} · "
            f"{t(request, thing) if thing else resource.replace('_', ' ')}")


@routes.get("/patients/{patient_id}/privacy")
@requires("patient", "admin")
async def privacy_page(request: web.Request) -> web.Response:
    patient_id = request.match_info["patient_id"]
    who = principal(request)
    async with request.app[keys.SESSIONS]() as session:
        consents = await service.list_consents(session, who, patient_id)
        log, _ = await service.access_log(session, who, patient_id, limit=LOG_PAGE)
        emergencies = await service.emergency_accesses(session, patient_id)
        delegations = await delegate_service.list_delegations(session, who, patient_id)
        names = {u.id: u.display_name for u in
                 [await session.get(User, c.grantee_id) for c in consents if c.grantee_id]
                 + [await session.get(User, e.user_id) for e in emergencies] if u}
    general = next((c for c in consents if c.grantee_id is None), None)
    return await render(request, "privacy.html", {
        "patient_id": patient_id,
        "consents": consents,
        "general_consent": general.granted if general else False,
        "names": names,
        "log": [(entry, describe(request, entry.action, entry.resource)) for entry in log],
        "emergencies": emergencies,
        "delegations": [(d, u) for d, u in delegations if d.revoked_at is None],
        "relationships": delegate_service.RELATIONSHIPS,
        "csv_url": f"/api/v1/patients/{patient_id}/access-log?format=csv&limit=1000",
    })


@routes.post("/patients/{patient_id}/privacy/consent")
@requires("patient", "admin")
async def privacy_consent(request: web.Request) -> web.Response:
    patient_id = request.match_info["patient_id"]
    form = await request.post()
    decision = form.get("granted")
    if decision not in ("yes", "no"):
        raise ApiError(400, "bad_request", "Choose whether to allow or refuse.")
    async with request.app[keys.SESSIONS]() as session:
        try:
            await service.decide_consent(session, principal(request), patient_id,
                                         granted=decision == "yes", grantee_id=None,
                                         note=None)
        except ApiError as exc:
            if exc.status != 422:
                raise
            await flash(request, t_error(request, exc.message))
            raise see_other(f"/patients/{patient_id}/privacy") from None
    await access_changed(request.app[keys.BUS], patient_id)
    granted_msg = N_("Your choice has been recorded.")
    refused_msg = N_("Your choice has been recorded: your care team can no longer open "
                     "your record.")
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
    async with request.app[keys.SESSIONS]() as session:
        try:
            await delegate_service.grant(
                session, principal(request), patient_id,
                delegate_username=username if isinstance(username, str) else "",
                relationship=relationship if isinstance(relationship, str) else "")
        except ApiError as exc:
            if exc.status not in (409, 422):
                raise
            problems = list(exc.fields.values()) or [exc.message]
            message = " ".join(t_error(request, p) for p in problems)
            await flash(request, message)
            raise see_other(f"/patients/{patient_id}/privacy") from None
    await access_changed(request.app[keys.BUS], patient_id)
    await flash(request, N_("The person you chose can now see this record."))
    raise see_other(f"/patients/{patient_id}/privacy")


@routes.post("/patients/{patient_id}/privacy/delegates/{delegation_id}/revoke")
@requires("patient", "admin")
async def privacy_revoke_delegate(request: web.Request) -> web.Response:
    patient_id = request.match_info["patient_id"]
    async with request.app[keys.SESSIONS]() as session:
        await delegate_service.revoke(session, principal(request), patient_id,
                                      request.match_info["delegation_id"])
    await access_changed(request.app[keys.BUS], patient_id)
    await flash(request, N_("That person can no longer see this record."))
    raise see_other(f"/patients/{patient_id}/privacy")


@routes.post("/account/logout-everywhere")
@requires(*ROLES)
async def logout_everywhere(request: web.Request) -> web.Response:
    who = principal(request)
    async with request.app[keys.SESSIONS]() as session:
        user = await session.get(User, who.user_id)
        assert user is not None
        await end_all_sessions(session, user)
    await credentials_revoked(request.app[keys.BUS], who.user_id, "logout_everywhere")
    raise see_other("/login")
