"""The alert board (``GET /alerts``) for nurses and doctors, and its no-JavaScript forms.

The page is complete on first paint: the open and acknowledged alerts of the caller's
patients (the alerts service, critical first, then oldest first), each with the patient's
latest vitals and the buttons to acknowledge, resolve (with a note) or snooze it. Filters
are query parameters (``severity``, ``status``, ``q`` for the patient's name); every active
alert is rendered and those the filters leave out are ``hidden``, so the board's script can
filter in the browser without asking the server again.

``web/static/alert-board.js`` then follows ``GET /api/v1/alerts/stream`` from the sequence
number the page was rendered at (nothing changed in between is missed) and fetches the
changed alerts' rows from ``GET /alerts/rows?id=…`` — the same template as the page, so the
markup, the words and the times are the server's. A row says the alert's detail in the page's
language at the patient's local times (``telemed.views.alert_text``). A patient of the
caller's care teams who withdrew consent is named at the top with the date (the fact, not the
data); the doctors who still receive that patient's telemonitoring alerts see them, marked,
without the latest vitals (``services.scope.alerting``). Every read costs a fixed number of
queries, whatever the population (``services.alert_board``). The action forms post to
``/alerts/{id}/ack|resolve|snooze`` (CSRF token in the form) and call the same services as
the JSON API, which the script uses instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp_jinja2
from aiohttp import web
from yarl import URL

from telemed import keys
from telemed.db.models import Alert, Patient
from telemed.db.types import utcnow
from telemed.domain.bands import classify
from telemed.domain.careplans import effective_bands
from telemed.domain.units import METRICS
from telemed.errors import ApiError
from telemed.i18n import translations
from telemed.principal import (
    CLINICIANS,
    REQUEST_ID,
    Principal,
    ensure_csrf_token,
    principal,
    requires,
)
from telemed.services import alert_board
from telemed.services import alerts as service
from telemed.services.alerts import AlertFilter
from telemed.services.audit import record_reads
from telemed.services.pagination import Page
from telemed.services.users import display_names
from telemed.views.alert_text import alert_sentence
from telemed.views.forms import FormErrors, read_form
from telemed.views.labels import msgids
from telemed.views.render import (
    LANGUAGE,
    N_,
    flash,
    language_of,
    local_or,
    render,
    see_other,
    t,
    t_error,
)
from telemed.views.vitals import (
    VitalItem,
    local_time,
    metric_label,
    number,
    patient_vitals,
    relative_time,
    unit_of,
    zone_label,
)

routes = web.RouteTableDef()

ALERT_ID = "{alert_id:[A-Za-z0-9_-]{1,64}}"
BOARD_LIMIT = 200
ROWS_LIMIT = 50
ACTIVE = ("open", "acknowledged")
SNOOZE_CHOICES: tuple[tuple[int, str], ...] = (
    (15, N_("15 minutes")), (30, N_("30 minutes")), (60, N_("1 hour")), (120, N_("2 hours")),
)
SEVERITY_WORDS = msgids("severity")  # the words are in telemed/views/labels.py
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


@dataclass(frozen=True)
class BoardFilter:
    """The board's filters, from the query string (unknown values mean "all")."""

    severity: str = ""
    status: str = ""
    q: str = ""

    @classmethod
    def of(cls, query: Any) -> BoardFilter:
        severity = query.get("severity", "")
        status = query.get("status", "")
        return cls(severity=severity if severity in service.SEVERITIES else "",
                   status=status if status in ACTIVE else "",
                   q=" ".join(str(query.get("q", "")).split())[:100])

    @classmethod
    def of_url(cls, target: str) -> BoardFilter:
        return cls.of(dict(parse_qsl(urlsplit(target).query)))

    def matches(self, alert: Alert, patient: Patient) -> bool:
        if self.severity and alert.severity != self.severity:
            return False
        if self.status and alert.status != self.status:
            return False
        return not self.q or self.q.casefold() in search_text(patient)

    @property
    def is_set(self) -> bool:
        return bool(self.severity or self.status or self.q)

    def url(self) -> str:
        query = {k: v for k, v in (("severity", self.severity), ("status", self.status),
                                   ("q", self.q)) if v}
        return str(URL("/alerts").with_query(query))


def patient_name(patient: Patient) -> str:
    return f"{patient.family_name} {patient.given_name}"


def search_text(patient: Patient) -> str:
    """What the name search looks in (either order of the names), case-folded."""
    return (f"{patient.family_name} {patient.given_name} | "
            f"{patient.given_name} {patient.family_name}").casefold()


def headline(request: web.Request, alert: Alert, patient_bands: Any) -> str:
    """What the alert is about, in the page's language."""
    metric = alert.metric if alert.metric in METRICS else None
    name = metric_label(request, metric) if metric else ""
    value = (f"{number(request, metric, alert.value)} {unit_of(request, metric)}"
             if metric and alert.value is not None else "")
    if alert.kind == "threshold" and metric:
        text = t(request, "{metric}: {value}", metric=name, value=value) if value else name
        if alert.value is not None:
            zone = classify(alert.value, effective_bands(patient_bands, metric))
            if zone != "normal":
                text = f"{text} ({zone_label(request, zone).lower()})"
        return text
    if alert.kind == "trend" and metric:
        if value:
            return t(request, "Change over time in {metric}, now {value}", metric=name,
                     value=value)
        return t(request, "Change over time in {metric}", metric=name)
    if alert.kind == "missed_measurement":
        return t(request, "Missed measurement: {metric}", metric=name or "–")
    if alert.kind == "device_silent":
        return t(request, "A device has sent nothing for too long")
    if alert.kind == "news2":
        score = f"{alert.value:g}" if alert.value is not None else "–"
        return t(request, "NEWS2 early warning score {score}", score=score)
    return alert.detail or alert.kind


def detail_text(request: web.Request, alert: Alert, patient: Patient) -> str:
    """The alert's detail in the page's language, times in the patient's time zone (named
    when it is not the site's); the stored English sentence for alerts without a code."""
    settings = request.app[keys.SETTINGS]
    return alert_sentence(alert.detail_code, alert.detail_args, alert.detail,
                          lang=request.get(LANGUAGE) or settings.language,
                          timezone=patient.timezone,
                          name_zone=patient.timezone != settings.timezone)


class RowView(dict[str, Any]):
    """One row's values for `_alert_row.html`. Jinja reads ``a.name`` as an attribute first:
    a plain dict answers each read with an AttributeError (a board reads 10,000)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def alert_view(request: web.Request, alert: Alert, patient: Patient, vitals: list[VitalItem],
               names: dict[str, str], content: Any, now: datetime,
               withdrawn: datetime | None = None) -> RowView:
    """What `_alert_row.html` shows of one alert (`withdrawn`: when the patient withdrew
    consent, for an alert that reaches the caller through telemonitoring only)."""
    tz = patient.timezone
    severity_word = t(request, SEVERITY_WORDS.get(alert.severity, alert.severity))
    what = headline(request, alert, content)
    snoozed = alert.snoozed_until is not None and alert.snoozed_until > now
    ack = None
    if alert.status == "acknowledged" and alert.acknowledged_at is not None:
        ack = {"by": names.get(alert.acknowledged_by or "", "") or t(request, "someone"),
               "iso": alert.acknowledged_at.isoformat(),
               "text": local_time(request, alert.acknowledged_at, tz),
               "relative": relative_time(request, alert.acknowledged_at, now),
               "note": alert.ack_note}
    return RowView({
        "id": alert.id,
        "patient_id": patient.id,
        "patient_name": patient_name(patient),
        "search": search_text(patient),
        "severity": alert.severity,
        "status": alert.status,
        "kind": alert.kind,
        "metric": alert.metric,
        "recovered": alert.recovered,
        "escalated": alert.escalated,
        "snoozed_text": local_time(request, alert.snoozed_until, tz, "HH:mm")
        if snoozed and alert.snoozed_until else None,
        "headline": what,
        "detail": detail_text(request, alert, patient),
        "opened_iso": alert.opened_at.isoformat(),
        "opened_text": local_time(request, alert.opened_at, tz),
        "opened_relative": relative_time(request, alert.opened_at, now),
        "ack": ack,
        "seq": alert.seq,
        "vitals": vitals,
        "withdrawn_text": local_time(request, withdrawn, tz, "d MMMM y")
        if withdrawn is not None else None,
        "summary": f"{severity_word}: {patient_name(patient)}, {what}.",
        "same_patient": False,  # the page sets it: joins the card of the patient's first alert
    })


async def _audit_vitals(session: Any, who: Principal, patient_ids: set[str],
                        request_id: str) -> None:
    await record_reads(session, actor=who, resource="observation",
                       reads={(pid, None) for pid in patient_ids},
                       reason="alert board: latest vitals", request_id=request_id)


def _snooze_options(request: web.Request) -> list[tuple[int, str]]:
    return [(minutes, t(request, label)) for minutes, label in SNOOZE_CHOICES]


# --- the board ---------------------------------------------------------------------------


def by_patient(rows: list[tuple[Alert, Patient]]) -> list[tuple[Alert, Patient]]:
    """The board's order: one group per patient, the patient with the most urgent alert first,
    each patient's alerts most urgent first (``rows`` come most urgent first)."""
    first: dict[str, int] = {}
    for position, (alert, _) in enumerate(rows):
        first.setdefault(alert.patient_id, position)
    return sorted(rows, key=lambda row: first[row[0].patient_id])  # stable: keeps the rest


async def _board(request: web.Request, filters: BoardFilter, errors: FormErrors,
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
        await _audit_vitals(session, who, {p.id for p in patients}, request[REQUEST_ID])
        contents = await alert_board.plan_contents(session, [p.id for p in patients])
        vitals = await patient_vitals(session, request, patients, contents, now)
        names = await display_names(
            session, {a.acknowledged_by for a, _ in rows if a.acknowledged_by})
        await session.commit()
    alerts: list[RowView] = []
    for alert, patient in by_patient(rows):
        view = alert_view(request, alert, patient, vitals.get(patient.id, []), names,
                          contents.get(patient.id), now, withdrawn.get(patient.id))
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
        "snooze_options": _snooze_options(request),
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
    return await _board(request, BoardFilter.of(request.query), FormErrors())


@routes.get("/alerts/rows", name="alert_rows")
@requires(*CLINICIANS)
async def board_rows(request: web.Request) -> web.Response:
    """The board's rows of the alerts ``?id=…&id=…`` (at most 50; the board's script asks
    for them after changes). Alerts of patients the caller cannot see are left out, so a row
    missing from the answer is a row to remove."""
    await language_of(request)
    who = principal(request)
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
                           reason="alert board", request_id=request[REQUEST_ID])
        patients = [p for p in {p.id: p for _, p, consulted in rows if consulted}.values()]
        await _audit_vitals(session, who, {p.id for p in patients}, request[REQUEST_ID])
        withdrawn = await alert_board.withdrawn_since(
            session, who, sorted({p.id for _, p, consulted in rows if not consulted}))
        contents = await alert_board.plan_contents(session, [p.id for p in patients])
        vitals = await patient_vitals(session, request, patients, contents, now)
        names = await display_names(
            session, {a.acknowledged_by for a, _ in found if a.acknowledged_by})
        await session.commit()
    for alert, patient in found:
        view = alert_view(request, alert, patient, vitals.get(patient.id, []), names,
                          contents.get(patient.id), now, withdrawn.get(patient.id))
        view["hidden"] = False
        views.append(view)
    return await _fragment(request, "alert_rows.html", {
        "alerts": views,
        "next_url": local_or(request.query.get("next"), "/alerts"),
        "errors": FormErrors(),
        "notes": {},
        "snooze_options": _snooze_options(request),
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


# --- the action forms (without JavaScript) --------------------------------------------------


def _target(form: dict[str, str]) -> str:
    target = local_or(form.get("next"), "/alerts")
    return target if urlsplit(target).path == "/alerts" else "/alerts"


async def _act(request: web.Request, action: str) -> web.Response:
    await language_of(request)
    form = await read_form(request)
    who = principal(request)
    alert_id = request.match_info["alert_id"]
    target = _target(form)
    filters = BoardFilter.of_url(target)
    note = form.get("note", "")
    errors = FormErrors()
    minutes = 0
    if action == "resolve" and not note.strip():
        errors.add(f"note-{alert_id}", t(request, "Say how the alert was resolved."))
    if action == "snooze":
        raw = form.get("minutes", "")
        minutes = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 6 else 0
        if minutes not in dict(SNOOZE_CHOICES):
            errors.add(None, t(request, "Choose how long to snooze the alert."))
    if errors:
        return await _board(request, filters, errors, {alert_id: note}, status=422)
    try:
        async with request.app[keys.SESSIONS]() as session:
            if action == "ack":
                await service.acknowledge(session, who, alert_id, None, request[REQUEST_ID])
            elif action == "resolve":
                await service.resolve(session, who, alert_id, note, request[REQUEST_ID])
            else:
                await service.snooze(session, who, alert_id, minutes, request[REQUEST_ID])
    except ApiError as exc:
        if exc.status not in (409, 422):
            raise
        for problem in exc.messages():  # the note's own error goes next to it
            errors.add(f"note-{alert_id}" if problem.path == "note" else None,
                       t_error(request, problem))
        return await _board(request, filters, errors, {alert_id: note}, status=exc.status)
    if action == "ack":
        await flash(request, "Alert acknowledged.")
    elif action == "resolve":
        await flash(request, "Alert resolved.")
    else:
        await flash(request, "Alert snoozed for {minutes} minutes.", minutes=minutes)
    anchor = "" if action == "resolve" else f"#alert-{alert_id}"
    raise see_other(target + anchor)


@routes.post(f"/alerts/{ALERT_ID}/ack")
@requires(*CLINICIANS)
async def acknowledge_form(request: web.Request) -> web.Response:
    return await _act(request, "ack")


@routes.post(f"/alerts/{ALERT_ID}/resolve")
@requires(*CLINICIANS)
async def resolve_form(request: web.Request) -> web.Response:
    return await _act(request, "resolve")


@routes.post(f"/alerts/{ALERT_ID}/snooze")
@requires(*CLINICIANS)
async def snooze_form(request: web.Request) -> web.Response:
    return await _act(request, "snooze")
