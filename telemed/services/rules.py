"""A patient's alert rules (docs/telemonitoring.md, "Rules") over the pure domain, with
persisted RuleState.

Readings path (called by the ingest writer inside the batch transaction, for the readings
stored *now*, so a redelivery is never evaluated twice):

- threshold, rule key ``threshold:<metric>``: the plan entry's bands (else platform
  defaults), ``confirm_count`` and ``hysteresis`` through ``domain.thresholds``; state is
  ``ThresholdState``. A late reading older than the last one evaluated changes nothing
  (thresholds are about the present); it is stored and still counts for trends and NEWS2.
- trend, rule key ``trend:<metric>:<window>h:<delta>``: evaluated over the stored readings of
  the window ending at the newest reading, so late readings fall into time order.
- NEWS2, rule key ``news2``, when the plan opts in: the latest of each of the five parameters
  within the 60 minutes before the newest one; scored by ``domain.news2``.

Periodic jobs (``run_jobs``): missed measurements, silent devices, escalation of
unacknowledged critical alerts. Every change goes through ``services.alerts``; what a rule
found is built by ``domain.alert_detail`` (code, args and the API's English sentence).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import exists, func, literal
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import Alert, Device, Observation
from telemed.db.types import utcnow
from telemed.domain import alert_detail, news2
from telemed.domain.careplans import (
    DEFAULT_ESCALATE_AFTER_MINUTES,
    DEFAULT_SILENCE_HOURS,
    CarePlanContent,
    MonitoringEntry,
    TimedSchedule,
    TrendRule,
    effective_bands,
)
from telemed.domain.device_kinds import MANUAL_KIND, last_seen_measuring
from telemed.domain.quiet import DEFAULT_NIGHT, NightHours, may_page
from telemed.domain.schedule import (
    MeasurementWindow,
    classify_miss,
    is_silent,
    measurement_windows,
    missed_windows,
)
from telemed.domain.thresholds import ThresholdRule
from telemed.domain.trends import evaluate_trend
from telemed.domain.units import METRICS
from telemed.notify import escalation
from telemed.services import alerts
from telemed.services.alerts import AlertChange, Condition
from telemed.services.context import PatientContext
from telemed.services.observations import NewReading, latest_values
from telemed.services.pagination import chunks
from telemed.services.plan_cache import ActivePlan, PlanCache
from telemed.services.rule_states import ParsedStates, RuleStates

log = logging.getLogger("telemed.rules")

NEWS2_WINDOW = timedelta(minutes=60)


def _time_of(reading: NewReading) -> datetime:
    return reading.time


def threshold_key(metric: str) -> str:
    return f"threshold:{metric}"


def _threshold_rule(content: CarePlanContent | None, metric: str) -> ThresholdRule | None:
    """The threshold rule of ``metric`` under a plan's content (None: the metric has none),
    prepared once per content and metric: a region's plans share a few contents."""
    memo = _THRESHOLD_RULES.get(id(content))
    if memo is None or memo[0] is not content:
        if len(_THRESHOLD_RULES) >= _THRESHOLD_RULES_LIMIT:
            _THRESHOLD_RULES.clear()
        memo = _THRESHOLD_RULES[id(content)] = (content, {})
    rules = memo[1]
    if metric not in rules:
        info = METRICS.get(metric)
        bands = effective_bands(content, metric)
        if info is None or not info.is_clinical or bands.is_empty:
            rules[metric] = None
        else:
            entry = content.entry_for(metric) if content is not None else None
            rules[metric] = (ThresholdRule(bands, entry.confirm_count, entry.hysteresis)
                             if entry is not None else ThresholdRule(bands))
    return rules[metric]


# id(content) → (the content, its metrics' rules); the content is held, so its id is not reused
_THRESHOLD_RULES: dict[int, tuple[CarePlanContent | None, dict[str, ThresholdRule | None]]] = {}
_THRESHOLD_RULES_LIMIT = 10_000


async def _thresholds(
    session: AsyncSession, ctx: PatientContext, readings: Sequence[NewReading],
    states: RuleStates,
) -> list[AlertChange]:
    changes: list[AlertChange] = []
    by_metric: dict[str, list[NewReading]] = defaultdict(list)
    for reading in readings:
        by_metric[reading.metric].append(reading)
    for metric, items in by_metric.items():
        rule = _threshold_rule(ctx.content, metric)
        if rule is None:
            continue
        key = threshold_key(metric)
        if len(items) > 1:
            items.sort(key=_time_of)
        state, decisions = rule.run(states.threshold(ctx.patient_id, key),
                                    [(r.time, r.value) for r in items])
        for index, decision in decisions:
            reading = items[index]
            if decision.action in ("open", "escalate") and decision.severity is not None:
                change = await alerts.raise_condition(session, Condition(
                    patient_id=ctx.patient_id, rule_key=key, kind="threshold",
                    severity=decision.severity, metric=metric, value=reading.value,
                    detail=alert_detail.threshold(metric, reading.value, decision.zone,
                                                  reading.time),
                    careplan_id=ctx.plan_id, careplan_version=ctx.plan_version,
                    received_at=reading.received_at,
                ), ctx.patient)
                if change is not None:
                    changes.append(change)
            elif decision.action == "recovered":
                change = await alerts.mark_recovered(
                    session, ctx.patient_id, key,
                    alert_detail.threshold_recovered(metric, reading.value, reading.time),
                    ctx.patient, received_at=reading.received_at)
                if change is not None:
                    changes.append(change)
        states.put_threshold(ctx.patient_id, key, state)
    return changes


async def _news2(
    session: AsyncSession, ctx: PatientContext, readings: Sequence[NewReading]
) -> list[AlertChange]:
    if ctx.content is None or not ctx.content.news2.enabled:
        return []
    relevant = [r for r in readings if r.metric in news2.NEWS2_METRICS]
    if not relevant:
        return []
    latest = (await latest_values(session, [ctx.patient_id],
                                  news2.NEWS2_METRICS)).get(ctx.patient_id, {})
    if any(m not in latest for m in news2.NEWS2_METRICS):
        return []
    times = [obs.time for obs in latest.values()]
    if max(times) - min(times) > NEWS2_WINDOW:
        return []
    at = max(times)
    if all(r.time < min(times) for r in relevant):
        return []  # the new readings are older than the current set: nothing changed
    vitals = {metric: obs.value for metric, obs in latest.items()}
    newest = max(relevant, key=lambda r: r.received_at)
    settings = ctx.content.news2
    scored = news2.score(vitals, spo2_scale=settings.spo2_scale, on_oxygen=settings.on_oxygen)
    severity = news2.alert_severity(scored)
    if severity is None:
        change = await alerts.mark_recovered(
            session, ctx.patient_id, "news2", alert_detail.news2_recovered(scored.total, at),
            ctx.patient, received_at=newest.received_at)
    else:
        change = await alerts.raise_condition(session, Condition(
            patient_id=ctx.patient_id, rule_key="news2", kind="news2", severity=severity,
            value=float(scored.total), detail=alert_detail.news2(scored, at),
            careplan_id=ctx.plan_id, careplan_version=ctx.plan_version,
            received_at=newest.received_at,
        ), ctx.patient)
    return [change] if change is not None else []


async def evaluate_batch(
    session: AsyncSession, batch: Sequence[tuple[PatientContext, Sequence[NewReading]]],
    memo: ParsedStates | None = None,
) -> list[AlertChange]:
    """Run every rule of each patient over newly stored readings (in the caller's tx);
    ``memo``: the worker's parsed threshold states, kept across batches."""
    batch = [(ctx, readings) for ctx, readings in batch if readings]
    if not batch:
        return []
    states = await RuleStates.load(session, [ctx.patient_id for ctx, _ in batch], memo)
    changes: list[AlertChange] = []
    for ctx, readings in batch:
        changes += await _thresholds(session, ctx, readings, states)
    changes += await _trends(session, batch)
    for ctx, readings in batch:
        changes += await _news2(session, ctx, readings)
    await states.save(session)
    return changes


async def evaluate_readings(
    session: AsyncSession, ctx: PatientContext, readings: Sequence[NewReading]
) -> list[AlertChange]:
    """``evaluate_batch`` for one patient."""
    return await evaluate_batch(session, [(ctx, readings)])


def trend_key(rule: TrendRule) -> str:
    return f"trend:{rule.metric}:{rule.window_hours}h:{rule.delta:+g}"


async def _trends(
    session: AsyncSession, batch: Sequence[tuple[PatientContext, Sequence[NewReading]]]
) -> list[AlertChange]:
    """Trend rules over the stored readings around the new ones (late ones in time order).

    One grouped query per rule finds the value range of each patient's window; only where
    the range could hold the rule's change are the window's readings fetched and evaluated.
    """
    work: dict[tuple[str, int, float], list[tuple[PatientContext, list[NewReading]]]] = {}
    rules_by_key: dict[tuple[str, int, float], TrendRule] = {}
    for ctx, readings in batch:
        if ctx.content is None:
            continue
        for rule in ctx.content.trends:
            new = [r for r in readings if r.metric == rule.metric]
            if new:
                key = (rule.metric, rule.window_hours, rule.delta)
                rules_by_key[key] = rule
                work.setdefault(key, []).append((ctx, new))
    changes: list[AlertChange] = []
    for key, items in work.items():
        rule = rules_by_key[key]
        window = timedelta(hours=rule.window_hours)
        lower = min(min(r.time for r in new) for _, new in items) - window
        upper = max(max(r.time for r in new) for _, new in items) + window
        ranges = await session.exec(
            select(Observation.patient_id, func.min(Observation.value),
                   func.max(Observation.value))
            .where(col(Observation.patient_id).in_([ctx.patient_id for ctx, _ in items]))
            .where(Observation.metric == rule.metric)
            .where(col(Observation.time) >= lower)
            .where(col(Observation.time) <= upper)
            .group_by(col(Observation.patient_id)))
        spread = {pid: high - low for pid, low, high in ranges.all()}
        for ctx, new in items:
            if spread.get(ctx.patient_id, 0.0) < abs(rule.delta) * (1 - 1e-9):
                continue
            change = await _trend(session, ctx, rule, new)
            if change is not None:
                changes.append(change)
    return changes


async def _trend(
    session: AsyncSession, ctx: PatientContext, rule: TrendRule, new: Sequence[NewReading]
) -> AlertChange | None:
    window = timedelta(hours=rule.window_hours)
    first = min(r.time for r in new)
    last = max(r.time for r in new)
    result = await session.exec(
        select(Observation.time, Observation.value)
        .where(Observation.patient_id == ctx.patient_id)
        .where(Observation.metric == rule.metric)
        .where(col(Observation.time) >= first - window)
        .where(col(Observation.time) <= last + window)
    )
    hit = evaluate_trend(list(result.all()), rule.delta, rule.window_hours, ending_after=first)
    if hit is None:
        return None
    newest = max(new, key=lambda r: r.received_at)
    return await alerts.raise_condition(session, Condition(
        patient_id=ctx.patient_id, rule_key=trend_key(rule), kind="trend",
        severity=rule.severity, metric=rule.metric, value=hit.end_value,
        detail=alert_detail.trend(rule.metric, hit, rule.delta, rule.window_hours),
        careplan_id=ctx.plan_id, careplan_version=ctx.plan_version,
        received_at=newest.received_at,
    ), ctx.patient)


async def _devices_of(session: AsyncSession, patient_ids: Sequence[str]
                      ) -> dict[str, list[tuple[str, datetime | None]]]:
    """patient id → (kind, last_seen) of its devices that are not revoked."""
    found: dict[str, list[tuple[str, datetime | None]]] = defaultdict(list)
    for part in chunks(sorted(set(patient_ids))):
        rows = await session.exec(
            select(Device.patient_id, Device.kind, Device.last_seen)
            .where(col(Device.patient_id).in_(part)).where(col(Device.revoked_at).is_(None)))
        for patient_id, kind, last in rows.all():
            found[str(patient_id)].append((kind, last))
    return found


async def missed_measurements(
    session: AsyncSession, now: datetime | None = None, lookback: timedelta = timedelta(hours=24),
    cache: PlanCache | None = None,
) -> list[AlertChange]:
    """``missed_measurement`` for scheduled windows that ended without a reading.

    A pass costs what is due: the active plans in one query, then only the schedules whose
    next window has ended since the last pass (``PlanCache.next_due``) are looked at, their
    states, devices and readings a few hundred patients per query (readings through
    ``ix_observations_patient_metric_time_value``), and the states written in one upsert."""
    now = now or utcnow()
    cache = cache or PlanCache()
    plans = await cache.active_plans(session, now)
    due: list[tuple[ActivePlan, MonitoringEntry, TimedSchedule]] = []
    for plan in plans.values():
        if plan.content is None:
            continue
        for entry in plan.content.monitoring:
            schedule = entry.schedule
            if not isinstance(schedule, TimedSchedule):
                continue
            next_due = cache.next_due.get((plan.row_id, entry.metric, plan.timezone))
            if next_due is None or next_due <= now:
                due.append((plan, entry, schedule))
    if not due:
        return []
    patient_ids = sorted({plan.patient_id for plan, _, _ in due})
    states = await RuleStates.load(session, patient_ids)
    windows_of: dict[tuple[str, str], list[MeasurementWindow]] = {}
    # Patients on the same schedule share its last window end before now and its next end
    # after now: computed once per schedule and time zone in this pass.
    around: dict[tuple[Any, ...], tuple[datetime | None, datetime]] = {}
    for plan, entry, schedule in due:
        key = f"schedule:{entry.metric}"
        checked = _parse_time(states.get(plan.patient_id, key).get("checked_until"))
        since = max(checked or now - lookback, plan.started, now - lookback)
        shape = (tuple(schedule.times), schedule.tolerance_minutes, plan.timezone)
        if shape not in around:
            near = measurement_windows(schedule.times, schedule.tolerance_minutes,
                                       plan.timezone, now - timedelta(days=2),
                                       now + timedelta(days=2))
            around[shape] = (max((w.end for w in near if w.end <= now), default=None),
                             min((w.end for w in near if w.end > now),
                                 default=now + timedelta(days=1)))
        last_end, next_end = around[shape]
        if last_end is None or last_end <= since:  # nothing ended since the last check
            cache.next_due[(plan.row_id, entry.metric, plan.timezone)] = next_end
            continue
        # One computation up to two days ahead: the windows that ended are checked, the
        # first still to end says when this schedule is next due.
        ahead = measurement_windows(schedule.times, schedule.tolerance_minutes,
                                    plan.timezone, since, now + timedelta(days=2))
        windows = [w for w in ahead if since < w.end <= now and w.start >= plan.started]
        cache.next_due[(plan.row_id, entry.metric, plan.timezone)] = min(
            (w.end for w in ahead if w.end > now), default=now + timedelta(days=1))
        if windows:  # nothing ended since the last check: nothing to remember either
            windows_of[(plan.patient_id, entry.metric)] = windows
            states.put(plan.patient_id, key, {"checked_until": now.isoformat()})
    changes: list[AlertChange] = []
    if windows_of:
        times = await _reading_times(session, windows_of)
        missed = {
            key: found for key, windows in windows_of.items()
            if (found := missed_windows(windows, times.get(key, []), now))
        }
        devices = await _devices_of(session, sorted({pid for pid, _ in missed}))
        people = await alerts.patients_by_id(session, sorted({pid for pid, _ in missed}))
        for (patient_id, metric), found in sorted(missed.items()):
            plan = plans[patient_id]
            patient = people.get(patient_id)
            if patient is None:
                continue
            for window in found:
                reason = classify_miss(last_seen_measuring(devices.get(patient_id, []), metric),
                                       window)
                change = await alerts.raise_condition(session, Condition(
                    patient_id=patient_id, rule_key=f"missed:{metric}",
                    kind="missed_measurement", severity="warning", metric=metric,
                    detail=alert_detail.missed_measurement(metric, window, patient.timezone,
                                                           reason),
                    careplan_id=plan.plan_id, careplan_version=plan.version, renotify=True,
                ), patient, now)
                if change is not None:
                    changes.append(change)
    await states.save(session)
    return changes


async def _reading_times(session: AsyncSession,
                         windows_of: dict[tuple[str, str], list[MeasurementWindow]]
                         ) -> dict[tuple[str, str], list[datetime]]:
    """(patient, metric) → times of its readings within its windows' span, a few hundred
    patients per query (served by the (patient_id, metric, time) index)."""
    out: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    patients = sorted({pid for pid, _ in windows_of})
    metrics = sorted({metric for _, metric in windows_of})
    start = min(w[0].start for w in windows_of.values())
    end = max(w[-1].end for w in windows_of.values())
    for part in chunks(patients):
        rows = await session.exec(
            select(Observation.patient_id, Observation.metric, Observation.time)
            .where(col(Observation.patient_id).in_(part))
            .where(col(Observation.metric).in_(metrics))
            .where(col(Observation.time) >= start).where(col(Observation.time) < end))
        for patient_id, metric, at in rows.all():
            if (patient_id, metric) in windows_of:
                out[(patient_id, metric)].append(at)
    return out


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


# --- periodic jobs --------------------------------------------------------------------


async def escalate_overdue(session: AsyncSession, now: datetime | None = None,
                           cache: PlanCache | None = None,
                           night: NightHours | None = None,
                           tz: str = "Europe/Rome") -> list[AlertChange]:
    """Take the next escalation step of unacknowledged critical alerts (telemed.notify.escalation:
    each plan period without acknowledgement notifies the next people of the chain), and of
    warnings whose plan's ``page_warnings`` lets them page at this hour (``night``: the night
    hours in ``tz``; telemed.domain.quiet). One query for the open critical alerts
    (``ix_alerts_status_severity_opened``), one for the warnings of the few plans that page
    them; only the alerts whose step is due cost more."""
    now = now or utcnow()
    cache = cache or PlanCache()
    night = night or NightHours.parse(DEFAULT_NIGHT)
    at_night = night.contains(now.astimezone(ZoneInfo(tz)).time())
    result = await session.exec(
        select(Alert)
        .where(Alert.status == "open")
        .where(Alert.severity == "critical")
        .where(col(Alert.opened_at) <= now - timedelta(minutes=1))
    )
    waiting = list(result.all())
    plans = await cache.active_plans(session, now)
    paging = sorted(pid for pid, plan in plans.items()
                    if plan.content is not None
                    and may_page("warning", plan.content.page_warnings, at_night))
    for start in range(0, len(paging), 500):
        warnings = await session.exec(
            select(Alert).where(Alert.status == "open").where(Alert.severity == "warning")
            .where(col(Alert.patient_id).in_(paging[start:start + 500]))
            .where(col(Alert.opened_at) <= now - timedelta(minutes=1)))
        waiting += warnings.all()
    if not waiting:
        return []
    due: list[escalation.Waiting] = []
    for alert in waiting:
        plan = plans.get(alert.patient_id)
        content = plan.content if plan is not None else None
        minutes = (content.effective_escalate_after_minutes if content is not None
                   else DEFAULT_ESCALATE_AFTER_MINUTES)
        waits = escalation.Waiting(alert, minutes, content.page_warnings if content else None)
        if escalation.takes_step(waits, now, at_night):
            due.append(waits)
    if not due:
        return []
    # The due alerts' chains in a few queries; the steps taken together (their statements
    # do not grow with how many fall due at once).
    levels = await escalation.chain_levels_of(
        session, sorted({w.alert.patient_id for w in due}), now)
    return await escalation.escalate_steps(session, due, now, levels, at_night=at_night)


async def silent_devices(session: AsyncSession, now: datetime | None = None,
                         cache: PlanCache | None = None) -> list[AlertChange]:
    """``device_silent`` for assigned devices quiet longer than the plan's ``silence_hours``.

    Three queries whatever the population (the plans, the open device alerts, the devices
    quiet for longer than the shortest silence of any plan or with an open alert); only a
    device that turns silent, or is heard again with an open alert, costs more."""
    now = now or utcnow()
    cache = cache or PlanCache()
    plans = await cache.active_plans(session, now)
    open_rows = await session.exec(
        select(Alert.patient_id, Alert.rule_key, Alert.recovered)
        .where(Alert.status != "resolved").where(Alert.kind == "device_silent"))
    standing = {(pid, key): bool(recovered) for pid, key, recovered in open_rows.all()}
    # Only devices that may have changed side: quiet longer than the shortest silence of any
    # plan (they may be silent), or with an open alert (they may be heard again).
    quiet_since = now - timedelta(hours=cache.min_silence_hours(DEFAULT_SILENCE_HOURS))
    with_alert = exists().where(
        col(Alert.patient_id) == col(Device.patient_id),
        col(Alert.rule_key) == literal("device_silent:") + col(Device.id),
        col(Alert.status) != "resolved")
    heard = func.coalesce(col(Device.last_seen), col(Device.created_at))
    result = await session.exec(
        select(Device)
        .where(col(Device.patient_id).is_not(None))
        .where(col(Device.revoked_at).is_(None))
        .where(Device.status != "revoked")
        .where(Device.kind != MANUAL_KIND)
        .where((heard < quiet_since) | with_alert)
    )
    devices = list(result.all())
    todo: list[tuple[Device, bool, int]] = []
    for device in devices:
        patient_id = device.patient_id
        assert patient_id is not None
        plan = plans.get(patient_id)
        hours = (plan.content.effective_silence_hours
                 if plan is not None and plan.content is not None else DEFAULT_SILENCE_HOURS)
        silent = is_silent(device.last_seen or device.created_at, now, hours)
        recovered = standing.get((patient_id, f"device_silent:{device.id}"))
        # An open, unrecovered alert that stays silent changes nothing (raise_condition would
        # say so); a device heard without an open alert has nothing to recover.
        if (silent and recovered is False) or (not silent and recovered is not False):
            continue
        todo.append((device, silent, hours))
    if not todo:
        return []
    people = await alerts.patients_by_id(session, sorted({str(d.patient_id) for d, _, _ in todo}))
    changes: list[AlertChange] = []
    for device, silent, hours in todo:
        patient_id = str(device.patient_id)
        patient = people.get(patient_id)
        if patient is None:
            continue
        plan = plans.get(patient_id)
        last = device.last_seen or device.created_at
        key = f"device_silent:{device.id}"
        if silent:
            change = await alerts.raise_condition(session, Condition(
                patient_id=patient_id, rule_key=key, kind="device_silent", severity="warning",
                detail=alert_detail.device_silent(device.id, device.serial, device.kind, last,
                                                  hours),
                careplan_id=plan.plan_id if plan else None,
                careplan_version=plan.version if plan else None,
            ), patient, now)
        else:
            change = await alerts.mark_recovered(
                session, patient_id, key,
                alert_detail.device_heard_again(device.id, device.serial, device.kind, last),
                patient, now)
        if change is not None:
            changes.append(change)
    return changes


async def run_jobs(session: AsyncSession, now: datetime | None = None,
                   cache: PlanCache | None = None, night: NightHours | None = None,
                   tz: str = "Europe/Rome") -> list[AlertChange]:
    """Every periodic rule, in one transaction (the caller commits and publishes). Keep one
    ``cache`` across passes (the scheduler does): plan contents are then parsed once and
    schedules with nothing due are skipped."""
    now = now or utcnow()
    cache = cache or PlanCache()
    changes = await missed_measurements(session, now, cache=cache)
    changes += await silent_devices(session, now, cache)
    changes += await escalate_overdue(session, now, cache, night, tz)
    return changes
