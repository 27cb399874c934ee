"""``GET /alerts/rows?id=…``: the board's rows of some alerts, for the script after changes
(the same template as the page, so the markup, the words and the times are the server's)."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from telemed import keys
from telemed.db.types import utcnow
from telemed.domain.audit_reasons import because
from telemed.errors import ApiError
from telemed.i18n import translations
from telemed.principal import CLINICIANS, REQUEST_ID, ensure_csrf_token, principal, requires
from telemed.services import alert_board
from telemed.services.audit import record_reads
from telemed.views.alerts.rows import RowView, row_data, snooze_options
from telemed.views.forms import FormErrors
from telemed.views.render import language_of, local_or, page_user

routes = web.RouteTableDef()

ROWS_LIMIT = 50


@routes.get("/alerts/rows", name="alert_rows")
@requires(*CLINICIANS)
async def board_rows(request: web.Request) -> web.Response:
    """The board's rows of the alerts ``?id=…&id=…`` (at most 50; the board's script asks
    for them after changes). Alerts of patients the caller cannot see are left out, so a row
    missing from the answer is a row to remove."""
    who = await page_user(request)
    now = utcnow()
    ids = sorted({i for i in request.query.getall("id", []) if 0 < len(i) <= 64})
    if len(ids) > ROWS_LIMIT:
        raise ApiError(400, "too_many_ids", f"Ask for at most {ROWS_LIMIT} alerts at once.")
    views: list[RowView] = []
    async with request.app[keys.SESSIONS]() as session:
        rows = await alert_board.rows_by_id(session, who, ids)
        found = [(alert, patient) for alert, patient, _ in rows]
        await record_reads(session, actor=who, resource="alert",
                           reads={(alert.patient_id, alert.id) for alert, _ in found},
                           reason=because("alert_board"), request_id=request[REQUEST_ID])
        patients = [p for p in {p.id: p for _, p, consulted in rows if consulted}.values()]
        withdrawn = await alert_board.withdrawn_since(
            session, who, sorted({p.id for _, p, consulted in rows if not consulted}))
        data = await row_data(session, request, who, patients, (a for a, _ in found), now)
        await session.commit()
    for alert, patient in found:
        view = data.view(request, alert, patient, now, withdrawn.get(patient.id))
        view["hidden"] = False
        views.append(view)
    return await _fragment(request, "alert_rows.html", {
        "alerts": views,
        "next_url": local_or(request.query.get("next"), "/alerts"),
        "errors": FormErrors(),
        "notes": {},
        "snooze_options": snooze_options(request),
    })


async def _fragment(request: web.Request, template: str,
                    context: dict[str, Any]) -> web.Response:
    """A piece of a page in the request's language (unlike `render`, it leaves the one-time
    notice of the session for the next full page)."""
    lang = await language_of(request)
    env = aiohttp_jinja2.get_env(request.app)
    env.install_gettext_translations(  # type: ignore[attr-defined]
        translations(lang), newstyle=True)
    full = {"lang": lang, "user": principal(request),
            "csrf_token": await ensure_csrf_token(request),
            "timezone": request.app[keys.SETTINGS].timezone, **context}
    response = aiohttp_jinja2.render_template(template, request, full)
    response.headers["Content-Language"] = lang
    return response
