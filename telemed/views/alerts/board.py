"""The board's page, ``GET /alerts``: the active alerts of the caller's patients, grouped by
patient, with the filters, the notices of withdrawn consent and the script's data."""

from __future__ import annotations

from aiohttp import web

from telemed import keys
from telemed.db.types import utcnow
from telemed.principal import CLINICIANS, REQUEST_ID, requires
from telemed.services import alert_board
from telemed.services import alerts as service
from telemed.services.alerts import AlertFilter
from telemed.services.pagination import Page
from telemed.views.alerts.filters import ACTIVE, BoardFilter, patient_name
from telemed.views.alerts.rows import RowView, by_patient, row_data, snooze_options
from telemed.views.alerts.strings import BOARD_STRINGS
from telemed.views.forms import FormErrors
from telemed.views.render import page_user, render, t
from telemed.views.times import local_time

routes = web.RouteTableDef()

BOARD_LIMIT = 200
SOUND_FILE = "sounds/critical-alert.wav"


async def board_page(request: web.Request, filters: BoardFilter, errors: FormErrors,
                     notes: dict[str, str] | None = None, status: int = 200) -> web.Response:
    """The board with `filters`, and the errors of a form that came back (`notes`: the
    resolution notes typed, by alert id)."""
    who = await page_user(request)
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
    alerts: list[RowView] = []
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
