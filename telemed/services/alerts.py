"""Alerts: opened and updated by the rules (system), acknowledged, resolved, snoozed by people.

One non-resolved alert per (patient, rule_key) — the database enforces it with a partial
unique index. Every change gets the next value of a global, monotonic sequence
(``Alert.seq``), assigned inside the changing transaction while holding the write lock
(SQLite's, or a transaction-level advisory lock on PostgreSQL), so sequence order is commit
order: an alert stream that resumes after ``Last-Event-ID`` misses nothing. Every transition is
audited (the rules' with actor ``None``) and yields an event for the bus channel ``alerts``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Table, delete, func, text
from sqlalchemy.orm.attributes import flag_modified, set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.bus import ALERTS as ALERT_CHANNEL
from telemed.bus import Event
from telemed.db.events import record_event
from telemed.db.models import Alert, Patient, RuleState
from telemed.db.types import utcnow
from telemed.domain.alert_detail import AlertDetail
from telemed.domain.audit_reasons import Reason, because
from telemed.domain.bands import Severity, is_worse
from telemed.domain.errors import DomainValidationError
from telemed.domain.text import clean_text
from telemed.errors import (
    FieldError,
    conflict,
    forbidden,
    from_domain,
    invalid,
    not_found,
)
from telemed.notify import outbox
from telemed.principal import Principal
from telemed.services import audit, scope
from telemed.services.access import authorize_patient
from telemed.services.audit import record_reads
from telemed.services.pagination import Page, chunks

ALERTS: Table = Alert.__table__  # type: ignore[attr-defined]
AlertKind = Literal["threshold", "trend", "missed_measurement", "device_silent", "news2",
                    "questionnaire"]
STATUSES = ("open", "acknowledged", "resolved")
SEVERITIES = ("warning", "critical")
SNOOZE_MINUTES = (1, 1440)
MAX_NOTE = 1000  # characters of an acknowledge or resolve note
_SEQ_LOCK = 7_242_611  # PostgreSQL advisory lock id of the alert sequence

_NEXT_SEQ = text(
    "UPDATE alerts SET seq = (SELECT COALESCE(MAX(seq), 0) + 1 FROM alerts) "
    "WHERE id = :id RETURNING seq"
)
_LAST_SEQ = text("SELECT COALESCE(MAX(seq), 0) FROM alerts")
_SET_SEQ = text("UPDATE alerts SET seq = :seq WHERE id = :id")


async def assign_seq(session: AsyncSession, alert: Alert) -> int:
    """Give ``alert`` the next sequence number (call after every change, before commit)."""
    session.add(alert)
    await session.flush()
    conn = await session.connection()
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SEQ_LOCK})
    seq = int((await conn.execute(_NEXT_SEQ, {"id": alert.id})).scalar_one())
    set_committed_value(alert, "seq", seq)  # in line with the row, without a reload
    return seq


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def alert_out(alert: Alert, patient: Patient | None = None) -> dict[str, Any]:
    """The alert shape of docs/api.md ("Alerts"), with the lifecycle details and the
    patient's name."""
    out: dict[str, Any] = {
        "id": alert.id,
        "patient_id": alert.patient_id,
        "kind": alert.kind,
        "metric": alert.metric,
        "severity": alert.severity,
        "status": alert.status,
        "recovered": alert.recovered,
        "value": alert.value,
        "detail": alert.detail,
        "detail_code": alert.detail_code,
        "detail_args": alert.detail_args,
        "opened_at": _iso(alert.opened_at),
        "updated_at": _iso(alert.updated_at),
        "careplan_id": alert.careplan_id,
        "careplan_version": alert.careplan_version,
        "escalated": alert.escalated,
        "rule_key": alert.rule_key,
        "acknowledged_by": alert.acknowledged_by,
        "acknowledged_at": _iso(alert.acknowledged_at),
        "ack_note": alert.ack_note,
        "resolved_by": alert.resolved_by,
        "resolved_at": _iso(alert.resolved_at),
        "resolve_note": alert.resolve_note,
        "snoozed_until": _iso(alert.snoozed_until),
        "seq": alert.seq,
    }
    if patient is not None:
        out["patient"] = {"id": patient.id, "given_name": patient.given_name,
                          "family_name": patient.family_name}
    return out


@dataclass(frozen=True, slots=True)
class AlertChange:
    """One committed-with-the-transaction alert change, to publish on the bus afterwards."""

    alert: dict[str, Any]
    seq: int
    patient_id: str
    change: str  # opened, escalated, updated, recovered, acknowledged, resolved, snoozed
    notify: bool
    reading_received_at: datetime | None = None

    def event(self) -> Event:
        return {"type": "alert", "seq": self.seq, "patient_id": self.patient_id,
                "change": self.change, "notify": self.notify, "alert": self.alert,
                "reading_received_at": _iso(self.reading_received_at)}

    def announce(self) -> tuple[str, Event]:
        """The alert streams' channel and this change (published after the commit)."""
        return ALERT_CHANNEL, self.event()


def _snoozed(alert: Alert, now: datetime) -> bool:
    return alert.snoozed_until is not None and alert.snoozed_until > now


async def _change(
    session: AsyncSession,
    alert: Alert,
    change: str,
    notify: bool,
    patient: Patient | None,
    received_at: datetime | None = None,
) -> AlertChange:
    seq = await assign_seq(session, alert)
    return AlertChange(alert_out(alert, patient), seq, alert.patient_id, change, notify,
                       received_at)


async def open_alert_for(session: AsyncSession, patient_id: str, rule_key: str) -> Alert | None:
    """The patient's non-resolved alert of ``rule_key``, if any."""
    result = await session.exec(
        select(Alert)
        .where(Alert.patient_id == patient_id)
        .where(Alert.rule_key == rule_key)
        .where(Alert.status != "resolved")
    )
    return result.first()


def set_detail(alert: Alert, detail: AlertDetail | str) -> None:
    """Store what the rule found: the English sentence and, when given, its code and args
    (a bare sentence clears them, so a page never shows a code that no longer applies)."""
    if isinstance(detail, AlertDetail):
        alert.detail = detail.text[:500]
        alert.detail_code = detail.code
        alert.detail_args = detail.args_json()
    else:
        alert.detail = detail[:500]
        alert.detail_code = None
        alert.detail_args = None


@dataclass(frozen=True, slots=True)
class Condition:
    """What a rule found: an out-of-range condition worth an alert."""

    patient_id: str
    rule_key: str
    kind: AlertKind
    severity: Severity
    detail: AlertDetail | str  # structured, or a bare English sentence
    metric: str | None = None
    value: float | None = None
    careplan_id: str | None = None
    careplan_version: int | None = None
    received_at: datetime | None = None
    renotify: bool = False  # notify again at the same severity (e.g. a new missed window)


async def raise_condition(
    session: AsyncSession, condition: Condition, patient: Patient | None = None,
    now: datetime | None = None,
) -> AlertChange | None:
    """Open an alert, or escalate/update the open one; ``None`` when nothing visible changes."""
    now = now or utcnow()
    alert = await open_alert_for(session, condition.patient_id, condition.rule_key)
    if alert is None:
        alert = Alert(
            patient_id=condition.patient_id, rule_key=condition.rule_key, kind=condition.kind,
            metric=condition.metric, severity=condition.severity, status="open",
            value=condition.value, careplan_id=condition.careplan_id,
            careplan_version=condition.careplan_version, opened_at=now, updated_at=now,
        )
        set_detail(alert, condition.detail)
        session.add(alert)
        await session.flush()
        audit.record(session, actor=None, action="create", resource="alert",
                     patient_id=alert.patient_id, resource_id=alert.id,
                     reason=because("alert_opened"))  # no clinical text (services.audit)
        if alert.severity == "critical":
            await outbox.alert_critical(session, alert, patient, now)
        return await _change(session, alert, "opened", True, patient, condition.received_at)
    worse = is_worse(condition.severity, alert.severity)  # type: ignore[arg-type]
    if not worse and not alert.recovered and not condition.renotify:
        return None
    change = "escalated" if worse else "updated"
    if worse:
        alert.severity = condition.severity
        alert.snoozed_until = None  # a worse severity is never hidden by a snooze
        if alert.status == "acknowledged":
            alert.status = "open"  # a worse condition needs a new acknowledgement
    alert.recovered = False
    alert.value = condition.value
    set_detail(alert, condition.detail)
    alert.careplan_id = condition.careplan_id or alert.careplan_id
    alert.careplan_version = condition.careplan_version or alert.careplan_version
    alert.updated_at = now
    audit.record(session, actor=None, action="update", resource="alert",
                 patient_id=alert.patient_id, resource_id=alert.id,
                 reason=because("alert_escalated" if worse else "alert_updated"))
    notify = worse or not _snoozed(alert, now)
    if worse and alert.severity == "critical":
        await outbox.alert_critical(session, alert, patient, now)
    return await _change(session, alert, change, notify, patient, condition.received_at)


async def mark_recovered(
    session: AsyncSession, patient_id: str, rule_key: str,
    detail: AlertDetail | str | None = None,
    patient: Patient | None = None, now: datetime | None = None,
    received_at: datetime | None = None,
) -> AlertChange | None:
    """The condition cleared: the open alert shows "recovered" and stays for a person."""
    alert = await open_alert_for(session, patient_id, rule_key)
    if alert is None or alert.recovered:
        return None
    now = now or utcnow()
    alert.recovered = True
    if alert.recovered_at is None:
        alert.recovered_at = now  # the alarm burden's "recovered before anyone looked"
    if detail:
        set_detail(alert, detail)
    alert.updated_at = now
    audit.record(session, actor=None, action="update", resource="alert", patient_id=patient_id,
                 resource_id=alert.id, reason=because("alert_recovered"))
    return await _change(session, alert, "recovered", False, patient, received_at)


async def escalate(
    session: AsyncSession, alert: Alert, to_user_id: str | None, now: datetime | None = None
) -> AlertChange:
    """Mark an unacknowledged critical alert escalated to the responsible doctor."""
    patient = await session.get(Patient, alert.patient_id)
    [change] = await escalate_many(session, [(alert, patient, to_user_id)], now)
    return change


async def escalate_many(
    session: AsyncSession, steps: Sequence[tuple[Alert, Patient | None, str | None]],
    now: datetime | None = None,
) -> list[AlertChange]:
    """`escalate` of many alerts (alert, its patient, to whom) in order: their updates and
    audit rows written together, their sequence numbers assigned in one statement."""
    now = now or utcnow()
    for alert, _, _ in steps:
        alert.escalated = True
        flag_modified(alert, "escalated")  # the same columns for every row: one executemany
        alert.updated_at = now
    await audit.record_rule_updates(session, resource="alert", changes=[
        (alert.patient_id, alert.id,
         because("alert_escalated_to", user=to_user_id) if to_user_id
         else because("alert_escalated_nobody"))
        for alert, _, to_user_id in steps])
    seqs = await assign_seqs(session, [alert for alert, _, _ in steps])
    changes: list[AlertChange] = []
    for (alert, patient, to_user_id), seq in zip(steps, seqs, strict=True):
        change = AlertChange(alert_out(alert, patient), seq, alert.patient_id, "escalated",
                             True)
        change.alert["escalated_to"] = to_user_id
        changes.append(change)
    return changes


async def assign_seqs(session: AsyncSession, changed: Sequence[Alert]) -> list[int]:
    """`assign_seq` of many alerts, in order: the changes flushed (on SQLite that takes the
    write lock), the sequence's end read under the lock, the numbers written in one
    executemany."""
    if len(changed) < 2:
        return [await assign_seq(session, alert) for alert in changed]
    session.add_all(changed)
    await session.flush()
    conn = await session.connection()
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SEQ_LOCK})
    last = int((await conn.execute(_LAST_SEQ)).scalar_one())
    seqs = list(range(last + 1, last + 1 + len(changed)))
    await conn.execute(_SET_SEQ, [{"id": a.id, "seq": n} for a, n in zip(changed, seqs,
                                                                          strict=True)])
    for alert, seq in zip(changed, seqs, strict=True):
        set_committed_value(alert, "seq", seq)
    return seqs


async def patients_by_id(session: AsyncSession, patient_ids: Sequence[str]) -> dict[str, Patient]:
    """The patients of these ids, a few hundred per query (they stay in the session)."""
    found: dict[str, Patient] = {}
    for part in chunks(sorted(set(patient_ids))):
        rows = await session.exec(select(Patient).where(col(Patient.id).in_(part)))
        found.update((p.id, p) for p in rows.all())
    return found


# --- people ---------------------------------------------------------------------------


async def _for_action(
    session: AsyncSession, who: Principal, alert_id: str, reason: Reason, request_id: str | None
) -> tuple[Alert, Patient]:
    alert = await session.get(Alert, alert_id)
    if alert is None:
        raise not_found("Alert")
    patient = await authorize_patient(session, who, alert.patient_id, action="update",
                                      resource="alert", resource_id=alert_id, reason=reason,
                                      request_id=request_id)
    return alert, patient


async def _unresolved(
    session: AsyncSession, who: Principal, alert_id: str, reason: Reason, request_id: str | None
) -> tuple[Alert, Patient]:
    """`_for_action`, refused (409) when the alert is already resolved."""
    alert, patient = await _for_action(session, who, alert_id, reason, request_id)
    if alert.status == "resolved":
        raise conflict("This alert is already resolved.", "alert_resolved")
    return alert, patient


async def _settled(session: AsyncSession, alert: Alert, patient: Patient,
                   change_kind: str) -> AlertChange:
    """Commit the alert's change; its event is published after the commit."""
    change = await _change(session, alert, change_kind, False, patient)
    record_event(session, change)
    await session.commit()
    return change


def _note(note: str | None) -> str | None:
    """The note as typed (trimmed), None when blank; 422 when too long or holding control,
    bidi-override or invalid characters (never cut silently)."""
    try:
        return clean_text(note, "note", max_length=MAX_NOTE, multiline=True, required=False)
    except DomainValidationError as exc:
        raise from_domain(exc) from None


async def get_alert(
    session: AsyncSession, who: Principal, alert_id: str, request_id: str | None = None
) -> tuple[Alert, Patient]:
    """One alert, with the list's access rules (care team and consent, emergency access, the
    patient or a delegate for their own); the read is audited, a refusal too."""
    alert = await session.get(Alert, alert_id)
    if alert is None:
        raise not_found("Alert")
    patient = await authorize_patient(session, who, alert.patient_id, action="read",
                                      resource="alert", resource_id=alert_id,
                                      request_id=request_id)
    await session.commit()
    return alert, patient


async def acknowledge(
    session: AsyncSession, who: Principal, alert_id: str, note: str | None,
    request_id: str | None = None, now: datetime | None = None,
) -> AlertChange:
    """open → acknowledged (who, when, note); ``now`` only for recorded history (the
    demo's past)."""
    clean_note = _note(note)
    alert, patient = await _unresolved(session, who, alert_id, because("alert_acknowledge"),
                                       request_id)
    if alert.status == "acknowledged":
        raise conflict("This alert is already acknowledged.", "alert_acknowledged")
    now = now or utcnow()
    alert.status = "acknowledged"
    alert.acknowledged_by = who.user_id
    alert.acknowledged_at = now
    alert.ack_note = clean_note
    alert.updated_at = now
    return await _settled(session, alert, patient, "acknowledged")


async def resolve(
    session: AsyncSession, who: Principal, alert_id: str, note: str,
    request_id: str | None = None, now: datetime | None = None,
) -> AlertChange:
    """open/acknowledged → resolved (who, when, note); the rule starts afresh."""
    clean_note = _note(note)
    alert, patient = await _unresolved(session, who, alert_id, because("alert_resolve"), request_id)
    now = now or utcnow()
    alert.status = "resolved"
    alert.resolved_by = who.user_id
    alert.resolved_at = now
    alert.resolve_note = clean_note
    alert.updated_at = now
    change = await _change(session, alert, "resolved", False, patient)
    await reset_rule_state(session, alert.patient_id, alert.rule_key)
    record_event(session, change)
    await session.commit()
    return change


async def snooze(
    session: AsyncSession, who: Principal, alert_id: str, minutes: int,
    request_id: str | None = None,
) -> AlertChange:
    """Silence the alert's notifications for ``minutes`` (a worse severity still notifies)."""
    low, high = SNOOZE_MINUTES
    if not low <= minutes <= high:
        raise invalid({"minutes": FieldError("minutes", "out_of_range",
                                             "Must be between {min} and {max}.",
                                             {"min": low, "max": high})})
    alert, patient = await _unresolved(session, who, alert_id,
                                       because("alert_snooze", minutes=minutes), request_id)
    now = utcnow()
    alert.snoozed_until = now + timedelta(minutes=minutes)
    alert.updated_at = now
    return await _settled(session, alert, patient, "snoozed")


async def reset_rule_state(session: AsyncSession, patient_id: str, rule_key: str) -> None:
    """Forget what a rule remembered (after a person resolved its alert)."""
    await session.exec(
        delete(RuleState)
        .where(col(RuleState.patient_id) == patient_id)
        .where(col(RuleState.rule_key) == rule_key)
    )


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """Filters of the alert list."""

    statuses: tuple[str, ...] = ("open", "acknowledged")
    severities: tuple[str, ...] = SEVERITIES
    patient_id: str | None = None


def alerting(who: Principal) -> ColumnElement[bool]:
    """The condition on ``alerts.patient_id`` for the alerts ``who`` receives
    (`telemed.services.scope.alerting`); administrators receive none."""
    condition = scope.alerting(col(Alert.patient_id), who)
    if condition is None:
        raise forbidden("Alerts are clinical data.")
    return condition


async def list_alerts(
    session: AsyncSession, who: Principal, filters: AlertFilter, page: Page,
    request_id: str | None = None,
) -> list[tuple[Alert, Patient]]:
    """Alerts of the patients ``who`` may see: critical first, then oldest first.

    One query per status asked, whatever the population: the access rules are a condition on
    each alert's patient (`telemed.services.scope`), the order is served by
    ``ix_alerts_status_severity_opened`` and the page is a keyset. The patients on the page
    are audited (one statement), not every patient the caller could see."""
    stmt = (
        select(Alert, Patient)
        .join(Patient, col(Patient.id) == col(Alert.patient_id))
        .where(col(Alert.status).in_(filters.statuses))
        .where(col(Alert.severity).in_(filters.severities))
    )
    if filters.patient_id is not None:
        await authorize_patient(session, who, filters.patient_id, action="read",
                                resource="alert", request_id=request_id)
        stmt = stmt.where(col(Alert.patient_id) == filters.patient_id)
    else:
        stmt = stmt.where(alerting(who))
    if page.after is not None:
        severity, opened, alert_id = page.after
        opened_at = datetime.fromisoformat(str(opened))
        stmt = stmt.where(
            (col(Alert.severity) > severity)
            | ((col(Alert.severity) == severity) & (col(Alert.opened_at) > opened_at))
            | ((col(Alert.severity) == severity) & (col(Alert.opened_at) == opened_at)
               & (col(Alert.id) > alert_id))
        )
    # "critical" sorts before "warning": severity ascending is worst first. One query per
    # status, each walking ix_alerts_status_severity_opened in order and stopping at the
    # page (the access condition is checked on the rows walked, not on every open alert);
    # the pages are merged here.
    stmt = stmt.order_by(col(Alert.severity), col(Alert.opened_at), col(Alert.id))
    rows: list[tuple[Alert, Patient]] = []
    for status in sorted(set(filters.statuses)):
        part = stmt.where(col(Alert.status) == status).limit(page.limit)
        rows += [(a, p) for a, p in (await session.exec(part)).all()]
    rows.sort(key=lambda row: (row[0].severity, row[0].opened_at, row[0].id))
    rows = rows[:page.limit]
    if filters.patient_id is None:
        await record_reads(session, actor=who, resource="alert",
                           reads={(a.patient_id, None) for a, _ in rows}, request_id=request_id)
    await session.commit()
    return rows


async def alerts_after(
    session: AsyncSession, who: Principal, after_seq: int, *, current: bool,
    patient_ids: Sequence[str] | None = None, limit: int = 500,
) -> list[tuple[Alert, Patient]]:
    """The next ``limit`` alerts, in sequence order after ``after_seq``, of the patients whose
    alerts ``who`` receives: every change (``current`` False: a stream resuming after
    ``Last-Event-ID``) or the non-resolved ones only (``current``: a stream's first replay).
    ``patient_ids`` narrows to a few patients (those who just became visible). Callers page
    with the last ``seq`` returned until a page comes back short."""
    stmt = (
        select(Alert, Patient)
        .join(Patient, col(Patient.id) == col(Alert.patient_id))
        .where(col(Alert.seq) > after_seq)
        .where(alerting(who))
    )
    if current:
        stmt = stmt.where(Alert.status != "resolved")
    if patient_ids is not None:
        if not patient_ids:
            return []
        stmt = stmt.where(col(Alert.patient_id).in_(sorted(set(patient_ids))))
    stmt = stmt.order_by(col(Alert.seq)).limit(limit)
    return [(a, p) for a, p in (await session.exec(stmt)).all()]


async def receiving(session: AsyncSession, who: Principal,
                    patient_ids: Sequence[str]) -> set[str]:
    """Of these patients, those whose alerts ``who`` receives now (one query by primary key
    per 500, the access rules checked on those patients only)."""
    condition = scope.alerting(col(Patient.id), who)
    if condition is None or not patient_ids:
        return set()
    wanted = sorted(set(patient_ids))
    found: set[str] = set()
    for start in range(0, len(wanted), 500):  # a burst of access events: 500 ids a query
        rows = await session.exec(
            select(col(Patient.id)).where(col(Patient.id).in_(wanted[start:start + 500]))
            .where(condition))
        found.update(rows.all())
    return found


async def alerting_patients_with_open_alerts(session: AsyncSession, who: Principal) -> set[str]:
    """The patients with non-resolved alerts whose alerts ``who`` receives now (one query,
    bounded by the open alerts: the alert stream's safety net)."""
    found = await session.exec(
        select(col(Alert.patient_id)).distinct()
        .where(Alert.status != "resolved").where(alerting(who)))
    return set(found.all())


async def count_open(session: AsyncSession) -> int:
    """How many alerts are not resolved (for the open_alerts gauge)."""
    result = await session.exec(
        select(func.count()).select_from(Alert).where(Alert.status != "resolved")
    )
    return int(result.one())
