"""Pages of the notification centre: the list behind the bell, the one-click acknowledge
page an escalation links to, the failed deliveries (admins) and notification settings."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from telemed import keys
from telemed.domain import digest
from telemed.errors import ApiError
from telemed.notify import kinds, outbox
from telemed.principal import CLINICIANS, REQUEST_ID, ROLES, principal, requires
from telemed.services import alarm_burden
from telemed.services.pagination import Page, encode_cursor, parse_page
from telemed.services.users import get_user, update_me
from telemed.views.forms import N_, FormErrors, read_form
from telemed.views.render import (
    flash,
    language_of,
    local_or,
    render,
    see_other,
    t,
    t_error,
)

routes = web.RouteTableDef()

PAGE_SIZE = 50
KIND_LABELS: dict[str, str] = {
    "alert_escalated": N_("A critical alert nobody acknowledged reaches me"),
    "alert_critical": N_("Every new critical alert of my patients"),
    "emergency_access": N_("Someone used emergency access to my record"),
    "document_available": N_("A new document is in my record"),
    "visit_reminder": N_("Reminders before my visits"),
    "visit_changed": N_("A visit of mine is scheduled, moved or cancelled"),
    "teleconsult_urgent": N_("An urgent teleconsult request for me or my specialty"),
    "teleconsult_request": N_("A routine teleconsult request for me or my specialty"),
    "teleconsult_update": N_("A teleconsult I asked for or took is accepted, declined, "
                             "answered or needs something"),
    "document_cosign": N_("A report waits for my co-signature"),
}
# Which kinds each role can receive (the settings page shows only those).
KINDS_OF_ROLE: dict[str, tuple[str, ...]] = {
    "doctor": ("alert_escalated", "alert_critical", "visit_changed", "teleconsult_urgent",
               "teleconsult_request", "teleconsult_update", "document_cosign"),
    "nurse": ("alert_escalated", "alert_critical", "visit_changed", "teleconsult_urgent",
              "teleconsult_request", "teleconsult_update", "document_cosign"),
    "patient": ("emergency_access", "document_available", "visit_reminder", "visit_changed"),
    "admin": (),
}
STATUS_LABELS: dict[str, str] = {
    "delivered": N_("shown in the app"), "read": N_("read in the app"),
    "pending": N_("waiting to be sent"), "sent": N_("delivered"),
    "failed": N_("refused"), "dead": N_("given up after 24 hours"),
}
CHANNEL_LABELS: dict[str, str] = {"app": N_("Notification centre"), "email": N_("Email"),
                                  "apprise": N_("Operators' paging")}


@routes.get("/notifications", name="notifications")
@requires(*ROLES)
async def notifications_page(request: web.Request) -> web.Response:
    lang = await language_of(request)
    who = principal(request)
    page = parse_page({"limit": str(PAGE_SIZE), "cursor": request.query.get("cursor", "")},
                      key_length=2)
    async with request.app[keys.SESSIONS]() as session:
        items = await outbox.list_for(session, who.user_id, page)
    rows = [outbox.notification_out(n, lang) | {"created": n.created_at} for n in items]
    next_url = None
    if len(items) == page.limit:
        next_url = "/notifications?cursor=" + encode_cursor(
            [items[-1].created_at.isoformat(), items[-1].id])
    return await render(request, "notifications.html", {"items": rows, "next_url": next_url})


@routes.post("/notifications/{notification_id}/open")
@requires(*ROLES)
async def notification_open(request: web.Request) -> web.Response:
    """Mark read and go to the notification's page."""
    who = principal(request)
    await read_form(request)
    async with request.app[keys.SESSIONS]() as session:
        n = await outbox.mark_read(session, who.user_id, request.match_info["notification_id"])
    raise see_other(local_or(n.link, "/notifications"))


@routes.post("/notifications/read-all")
@requires(*ROLES)
async def notifications_read_all(request: web.Request) -> web.Response:
    who = principal(request)
    await read_form(request)
    async with request.app[keys.SESSIONS]() as session:
        await outbox.mark_all_read(session, who.user_id)
    await flash(request, "All notifications marked as read.")
    raise see_other("/notifications")


def _sent_rows(request: web.Request, sent: list[outbox.Sent]) -> list[dict[str, Any]]:
    return [{"name": s.user_name, "at": s.created_at,
             "channel": t(request, CHANNEL_LABELS.get(s.channel, s.channel)),
             "status": t(request, STATUS_LABELS.get(s.status, s.status)),
             "ok": s.status in ("sent", "delivered", "read"),
             "kind": s.kind} for s in sent]


@routes.get("/alerts/{alert_id:[0-9a-f]{32}}/acknowledge", name="alert_acknowledge")
@requires(*CLINICIANS)
async def acknowledge_page(request: web.Request) -> web.Response:
    """Where an escalation's link lands (after login): one button acknowledges."""
    await language_of(request)
    who = principal(request)
    async with request.app[keys.SESSIONS]() as session:
        alert, patient, sent = await outbox.alert_for_ack_page(
            session, who, request.match_info["alert_id"], request[REQUEST_ID])
    return await render(request, "alert_acknowledge.html", {
        "alert": alert, "patient": patient, "sent": _sent_rows(request, sent)})


@routes.get("/notifications/failed", name="notifications_failed")
@requires("admin")
async def failed_page(request: web.Request) -> web.Response:
    await language_of(request)
    async with request.app[keys.SESSIONS]() as session:
        failed = await outbox.failed_deliveries(session, Page(limit=200, after=None))
    rows = [{"id": f.id, "user_name": f.user_name, "kind": f.kind,
             "channel": t(request, CHANNEL_LABELS.get(f.channel, f.channel)),
             "address": f.address, "status": t(request, STATUS_LABELS.get(f.status, f.status)),
             "retryable": f.status in ("failed", "dead"), "attempts": f.attempts,
             "error": f.last_error or "", "created": f.created_at,
             "next": f.next_attempt_at} for f in failed]
    return await render(request, "notifications_failed.html", {"items": rows})


@routes.post("/notifications/deliveries/{delivery_id}/retry")
@requires("admin")
async def failed_retry(request: web.Request) -> web.Response:
    await read_form(request)
    async with request.app[keys.SESSIONS]() as session:
        await outbox.retry_delivery(session, request.match_info["delivery_id"])
    await flash(request, "The delivery will be tried again.")
    raise see_other("/notifications/failed")


async def _settings_page(request: web.Request, errors: FormErrors,
                         form: dict[str, str] | None = None, status: int = 200) -> web.Response:
    who = principal(request)
    async with request.app[keys.SESSIONS]() as session:
        user = await get_user(session, who.user_id)
    choices = kinds.effective(user.notify_prefs)
    delivery = kinds.deliveries(user.digest_kinds)
    options = [{"kind": k, "label": t(request, KIND_LABELS[k]), "on": choices[k],
                "mandatory": k in kinds.MANDATORY, "digestible": k in kinds.DIGESTIBLE,
                "delivery": (form or {}).get(f"delivery_{k}", delivery[k])}
               for k in KINDS_OF_ROLE.get(who.role, ())]
    return await render(request, "notification_settings.html", {
        "options": options, "email": (form or {}).get("email", user.email or ""),
        "phone": (form or {}).get("phone", user.phone or ""),
        "digest_time": (form or {}).get(
            "digest_time", f"{digest.stored_time(user.digest_time):%H:%M}"),
        "any_digestible": any(o["digestible"] for o in options),
        "errors": errors}, status=status)


@routes.get("/settings/notifications", name="notification_settings")
@requires(*ROLES)
async def settings_page(request: web.Request) -> web.Response:
    await language_of(request)
    return await _settings_page(request, FormErrors())


@routes.post("/settings/notifications")
@requires(*ROLES)
async def settings_submit(request: web.Request) -> web.Response:
    await language_of(request)
    who = principal(request)
    form = await read_form(request)
    notify = {k: form.get(f"notify_{k}") == "on" for k in KINDS_OF_ROLE.get(who.role, ())
              if k not in kinds.MANDATORY}
    # Every delivery field sent is checked: a kind that may not wait is refused, not ignored.
    delivery = {name.removeprefix("delivery_"): value for name, value in form.items()
                if name.startswith("delivery_")}
    changes: dict[str, Any] = {"email": form.get("email", ""), "phone": form.get("phone", ""),
                               "notify": notify, "notify_delivery": delivery}
    if "digest_time" in form:
        changes["digest_time"] = form["digest_time"].strip()
    try:
        async with request.app[keys.SESSIONS]() as session:
            await update_me(session, who.user_id, changes=changes,
                            timezone=request.app[keys.SETTINGS].timezone)
    except ApiError as exc:
        if exc.status != 422:
            raise
        errors = FormErrors()
        for field, message in exc.problems.items():
            errors.add(field if field in ("email", "phone", "digest_time") else None,
                       t_error(request, message))
        return await _settings_page(request, errors, form, status=422)
    await flash(request, "Your notification settings are saved.")
    raise see_other("/settings/notifications")


BURDEN_DAYS = (7, 30, 90)


def _duration(seconds: float | None) -> str:
    """A time to acknowledge or resolve, for a person: "45 s", "12 min", "3.5 h", "2.0 d"."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _figures(b: dict[str, Any]) -> dict[str, str]:
    def num(value: float | None, digits: int = 1) -> str:
        return "—" if value is None else f"{value:.{digits}f}"

    share = b["auto_recovered_share"]
    return {
        "alerts": str(b["alerts"]), "critical": str(b["critical"]),
        "per_week": num(b["alerts_per_patient_week"], 2),
        "auto": "—" if share is None else f"{share * 100:.0f} %",
        "ack_median": _duration(b["time_to_acknowledge_s"]["median"]),
        "ack_p90": _duration(b["time_to_acknowledge_s"]["p90"]),
        "resolve_median": _duration(b["time_to_resolve_s"]["median"]),
        "resolve_p90": _duration(b["time_to_resolve_s"]["p90"]),
        "escalations": str(b["escalations"]),
        "nurse_shift": num(b["notifications_per_nurse_shift"], 2),
    }


@routes.get("/alarm-burden", name="alarm_burden")
@requires(*CLINICIANS)
async def alarm_burden_page(request: web.Request) -> web.Response:
    """The team lead's view of the alarm burden (works without JavaScript)."""
    await language_of(request)
    raw = request.query.get("days", "")
    days = int(raw) if raw.isdigit() and int(raw) in BURDEN_DAYS else BURDEN_DAYS[0]
    async with request.app[keys.SESSIONS]() as session:
        burden = await alarm_burden.team_burden(session, principal(request), days=days,
                                                request_id=request.get(REQUEST_ID))
    data = burden.out()
    return await render(request, "alarm_burden.html", {
        "days": days, "choices": BURDEN_DAYS, "start": burden.start, "end": burden.end,
        "team": _figures(data["team"]), "patients_count": data["team"]["patients"],
        "patients": [{"id": p["patient_id"], "name": p["name"], **_figures(p)}
                     for p in data["patients"]],
    })
