"""The board's page, ``GET /alerts``: the active alerts of the caller's patients, grouped by
patient, with the filters, the notices of withdrawn consent and the script's data."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from telemed import keys
from telemed.db.types import utcnow
from telemed.principal import CLINICIANS, REQUEST_ID, principal, requires
from telemed.services import alert_board
from telemed.services import alerts as service
from telemed.services.alerts import AlertFilter
from telemed.services.pagination import Page
from telemed.views.alerts.filters import ACTIVE, BoardFilter, patient_name
from telemed.views.alerts.rows import by_patient, row_data, snooze_options
from telemed.views.forms import FormErrors
from telemed.views.render import N_, language_of, render, t
from telemed.views.times import local_time

routes = web.RouteTableDef()

BOARD_LIMIT = 200
SOUND_FILE = "sounds/critical-alert.wav"


# Words the board's script needs (keys are stable, values English msgids).
BOARD_STRINGS: dict[str, str] = {
    "connecting": N_("Connecting…"),
    "live": N_("Live: new alerts appear by themselves."),
    "reconnecting": N_("Reconnecting… the board may be out of date."),
    "count": N_("Alerts shown: {shown} of {total}."),
    "just_now": N_("just now"),
    "announce_new": N_("New alert. {summary}"),
    "announce_worse": N_("Alert now critical. {summary}"),
    "announce_escalated": N_("Alert escalated to the doctor. {summary}"),
    "acknowledged": N_("Alert acknowledged."),
    "resolved": N_("Alert resolved."),
    "snoozed": N_("Alert snoozed."),
    "note_required": N_("Say how the alert was resolved."),
    "already_acknowledged": N_("This alert is already acknowledged."),
    "already_resolved": N_("This alert is already resolved."),
    "session_expired": N_("Your session has expired. Reload the page and log in again."),
    "no_access": N_("You have no access to this patient's record."),
    "failed": N_("That did not work. Check the connection and try again."),
    "sound_blocked": N_("The browser blocked the sound. Click anywhere on the page to allow it."),
    "error_prefix": N_("Error:"),
}


async def board_page(request: web.Request, filters: BoardFilter, errors: FormErrors,
                 notes: dict[str, str] | None = None, status: int = 200) -> web.Response:
    await language_of(request)
    who = principal(request)
    now = utcnow()
    async with request.app[keys.SESSIONS]() as session:
        # The stream resumes after this number: a change committed after it reaches the
        # board live, one before it is in the page (both, at worst: the script keeps the
        # newer).
        seq = await alert_board.last_seq(session)
        rows = await service.list_alerts(session, who, AlertFilter(statuses=ACTIVE),
                                         Page(limit=BOARD_LIMIT, after=None),
                                         request[REQUEST_ID])
        notices = await alert_board.withdrawn_notices(session, who)
        withdrawn = await alert_board.withdrawn_since(session, who,
                                                      sorted({p.id for _, p in rows}))
        # The record (latest vitals) only of patients whose consent lets the caller in.
        patients = [p for p in {p.id: p for _, p in rows}.values() if p.id not in withdrawn]
        data = await row_data(session, request, who, patients, (a for a, _ in rows), now)
        await session.commit()
    alerts: list[dict[str, Any]] = []
    for alert, patient in by_patient(rows):
        view = data.view(request, alert, patient, now, withdrawn.get(patient.id))
        view["hidden"] = not filters.matches(alert, patient)
        view["same_patient"] = bool(alerts) and alerts[-1]["patient_id"] == patient.id
        alerts.append(view)
    shown = sum(1 for a in alerts if not a["hidden"])
    next_url = filters.url()
    return await render(request, "alerts.html", {
        "alerts": alerts,
        "shown": shown,
        "total": len(alerts),
        "truncated": len(rows) >= BOARD_LIMIT,
        "filters": filters,
        "next_url": next_url,
        "errors": errors,
        "notes": notes or {},
        "summary": errors.summary(lambda key: t(request, "Resolution note")),
        "snooze_options": snooze_options(request),
        "severity_options": [("", t(request, "All severities")),
                             ("critical", t(request, "Critical only")),
                             ("warning", t(request, "Warnings only"))],
        "status_options": [("", t(request, "Open and acknowledged")),
                           ("open", t(request, "Open only")),
                           ("acknowledged", t(request, "Acknowledged only"))],
        "board_data": {
            "seq": seq,
            "strings": {key: t(request, msgid) for key, msgid in BOARD_STRINGS.items()},
        },
        "sound_file": SOUND_FILE,
        "withdrawn": [{"patient_id": n.patient.id, "patient_name": patient_name(n.patient),
                       "since": local_time(request, n.since, n.patient.timezone, "d MMMM y"),
                       "monitoring": n.monitoring} for n in notices],
    }, status=status)


@routes.get("/alerts", name="alerts")
@requires(*CLINICIANS)
async def board(request: web.Request) -> web.Response:
    """The open and acknowledged alerts of the caller's patients, most urgent first."""
    return await board_page(request, BoardFilter.of(request.query), FormErrors())
