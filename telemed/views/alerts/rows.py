"""What one row of the board shows of an alert, and the data its rows need, read together."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed import keys
from telemed.db.models import Alert, Patient
from telemed.domain.audit_reasons import because
from telemed.domain.bands import classify
from telemed.domain.careplans import CarePlanContent, effective_bands
from telemed.domain.units import METRICS
from telemed.principal import REQUEST_ID, Principal
from telemed.services import alert_board
from telemed.services.audit import record_reads
from telemed.services.users import display_names
from telemed.views.alert_text import alert_sentence
from telemed.views.alerts.filters import patient_name, search_text
from telemed.views.labels import msgids
from telemed.views.render import LANGUAGE, N_, t
from telemed.views.times import local_time, relative_time
from telemed.views.vitals.latest import VitalItem, patient_vitals
from telemed.views.vitals.values import metric_label, number, unit_of, zone_label

SNOOZE_CHOICES: tuple[tuple[int, str], ...] = (
    (15, N_("15 minutes")), (30, N_("30 minutes")), (60, N_("1 hour")), (120, N_("2 hours")),
)
SEVERITY_WORDS = msgids("severity")  # the words are in telemed/views/labels.py


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



def snooze_options(request: web.Request) -> list[tuple[int, str]]:
    return [(minutes, t(request, label)) for minutes, label in SNOOZE_CHOICES]


def by_patient(rows: list[tuple[Alert, Patient]]) -> list[tuple[Alert, Patient]]:
    """The board's order: one group per patient, the patient with the most urgent alert first,
    each patient's alerts most urgent first (``rows`` come most urgent first)."""
    first: dict[str, int] = {}
    for position, (alert, _) in enumerate(rows):
        first.setdefault(alert.patient_id, position)
    return sorted(rows, key=lambda row: first[row[0].patient_id])  # stable: keeps the rest


@dataclass
class RowData:
    """What the rows of some alerts need besides the alert and the patient."""

    contents: dict[str, CarePlanContent | None]
    vitals: dict[str, list[VitalItem]]
    names: dict[str, str]

    def view(self, request: web.Request, alert: Alert, patient: Patient, now: datetime,
             withdrawn: datetime | None) -> RowView:
        return alert_view(request, alert, patient, self.vitals.get(patient.id, []),
                          self.names, self.contents.get(patient.id), now, withdrawn)


async def row_data(session: AsyncSession, request: web.Request, who: Principal,
                   consulted: Sequence[Patient], alerts: Iterable[Alert],
                   now: datetime) -> RowData:
    """The latest vitals of the patients whose record ``who`` may open (the read audited),
    their care plans' bands, and the names of who acknowledged ``alerts``."""
    await record_reads(session, actor=who, resource="observation",
                       reads={(p.id, None) for p in consulted},
                       reason=because("alert_board_vitals"), request_id=request[REQUEST_ID])
    contents = await alert_board.plan_contents(session, [p.id for p in consulted])
    vitals = await patient_vitals(session, request, consulted, contents, now)
    names = await display_names(session, {a.acknowledged_by for a in alerts if a.acknowledged_by})
    return RowData(contents, vitals, names)
