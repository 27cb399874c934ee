"""Alarm burden of a care team and of each of its patients, and of the whole platform
(docs/notifications.md, "Alarm burden"; the definitions are in `telemed.domain.alarm_burden`).

A clinician's *care team* is the set of patients whose alerts it receives
(`telemed.services.scope.alerting`: its care teams, with the patients' consent), one SQL
condition read by two statements whatever the population: the team (a CTE) with its alerts of
the period (``ix_alerts_opened_patient``; the figures are added up from these rows by the
domain's definitions), and its nurses' notifications; then the names of the patients shown
(at most 200). The platform's figures (no team) are aggregated in SQL: the counts, the median
and p90 times (on PostgreSQL picked by the database at the ranks the domain names,
`median_ranks` and `nearest_rank_index`; on SQLite from the durations the database computed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import Alert, CareTeamMember, Notification, Patient, User
from telemed.db.types import utcnow
from telemed.domain import alarm_burden as rules
from telemed.domain.audit_reasons import because
from telemed.errors import ApiError, forbidden
from telemed.principal import Principal
from telemed.services import scope
from telemed.services.audit import record_reads

MAX_PATIENT_ROWS = 200


@dataclass(frozen=True, slots=True)
class PatientBurden:
    """One patient's line of the team's page."""

    patient_id: str
    name: str
    burden: rules.Burden

    def out(self) -> dict[str, Any]:
        return {"patient_id": self.patient_id, "name": self.name, **self.burden.out()}


@dataclass(frozen=True, slots=True)
class TeamBurden:
    """The team's figures and its most burdened patients."""

    start: datetime
    end: datetime
    team: rules.Burden
    patients: list[PatientBurden]

    def out(self) -> dict[str, Any]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat(),
                "team": self.team.out(), "patients": [p.out() for p in self.patients]}


def check_days(raw: str | None) -> int:
    """The period in days from a query parameter (400 when not a whole number in range)."""
    if raw is None or raw == "":
        return rules.DEFAULT_DAYS
    if not raw.isdigit() or not 1 <= int(raw) <= rules.MAX_DAYS:
        raise ApiError(400, "invalid_days",
                       f"days must be a whole number from 1 to {rules.MAX_DAYS}.")
    return int(raw)


async def _run(session: AsyncSession, statement: Any) -> Any:
    """Run a core (multi-column) statement."""
    return await session.exec(statement)


def _seconds(session: AsyncSession, later: Any, earlier: Any) -> Any:
    """``later - earlier`` in seconds, computed by the database."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _auto_recovered() -> ColumnElement[bool]:
    """The condition cleared before anyone acknowledged or resolved the alert."""
    recovered = col(Alert.recovered_at)
    return and_(recovered.is_not(None),
                or_(col(Alert.acknowledged_at).is_(None), recovered < col(Alert.acknowledged_at)),
                or_(col(Alert.resolved_at).is_(None), recovered < col(Alert.resolved_at)))


def _counts_columns() -> list[Any]:
    return [
        func.count(col(Alert.id)),
        func.sum(case((col(Alert.severity) == "critical", 1), else_=0)),
        func.sum(case((_auto_recovered(), 1), else_=0)),
        func.sum(col(Alert.escalation_step)),
        func.sum(case((col(Alert.escalation_step) > 0, 1), else_=0)),
    ]


def _counts(patients: int, row: Any) -> rules.Counts:
    alerts, critical, auto, steps, escalated = (int(v or 0) for v in row)
    return rules.Counts(patients=patients, alerts=alerts, critical=critical,
                        auto_recovered=auto, escalations=steps, escalated_alerts=escalated)


async def _nurse_load(session: AsyncSession, team: ColumnElement[bool] | None,
                      start: datetime, end: datetime) -> float | None:
    """Notifications recorded for the team's nurses per nurse per shift (one statement: the
    nurses are a CTE read twice, so ``team`` is evaluated once)."""
    query: Any = select(col(User.id).label("id")).where(col(User.role) == "nurse").where(
        col(User.active))
    if team is not None:
        query = query.where(col(User.id).in_(select(col(CareTeamMember.user_id)).where(team)))
    nurses = query.cte("nurses")
    count, sent = (await _run(session, select(
        select(func.count()).select_from(nurses).scalar_subquery(),
        select(func.count(col(Notification.id)))
        .where(col(Notification.user_id).in_(select(nurses.c.id)))
        .where(col(Notification.created_at) >= start)
        .where(col(Notification.created_at) < end).scalar_subquery()))).one()
    return rules.per_nurse_shift(int(sent), int(count), end - start)


async def _order_stats(session: AsyncSession, duration: Any, where: list[Any]
                       ) -> rules.Stats:
    """The median and p90 of a duration over the matching alerts. PostgreSQL sorts and picks
    the values at the ranks the domain names (three small queries, no rows shipped); SQLite
    is faster handing the durations over (one query; measured at 62,000 alerts)."""
    present = [*where, duration.is_not(None)]
    if session.bind is None or session.bind.dialect.name != "postgresql":
        values = (await _run(session, select(duration).where(*present))).scalars().all()
        return rules.stats([max(0.0, round(float(v), 1)) for v in values])
    n = int((await _run(session, select(func.count()).select_from(Alert).where(*present)))
            .scalar_one())
    if n == 0:
        return None, None
    ordered = select(duration).select_from(Alert).where(*present).order_by(duration)

    async def at(position: int, count: int = 1) -> list[float]:
        found = (await _run(session, ordered.offset(position).limit(count))).scalars().all()
        return [max(0.0, round(float(v), 1)) for v in found]

    lo, hi = rules.median_ranks(n)
    middle = await at(lo, hi - lo + 1)
    return (middle[0] + middle[-1]) / 2, (await at(rules.nearest_rank_index(n, 90)))[0]


async def _figures(session: AsyncSession, start: datetime, end: datetime) -> rules.Burden:
    """The whole platform's figures over the alerts opened in the period."""
    where: list[Any] = [col(Alert.opened_at) >= start, col(Alert.opened_at) < end]
    size = int((await _run(session, select(func.count(col(Patient.id))))).scalar_one())
    total = (await _run(session, select(*_counts_columns()).where(*where))).one()
    ack = await _order_stats(
        session, _seconds(session, col(Alert.acknowledged_at), col(Alert.opened_at)), where)
    resolve = await _order_stats(
        session, _seconds(session, col(Alert.resolved_at), col(Alert.opened_at)), where)
    days = (end - start) / timedelta(days=1)
    return rules.burden(_counts(size, total), days, ack, resolve,
                        await _nurse_load(session, None, start, end))


def condition_on(column: Any, *, team_of: Any) -> Any:
    """``team_of`` (a condition on ``Patient.id``) applied to another patient-id column."""
    return column.in_(select(col(Patient.id)).where(team_of))


async def _team_alerts(session: AsyncSession, team: ColumnElement[bool], start: datetime,
                       end: datetime) -> list[Any]:
    """One statement: every patient of the team (``team``, a condition on ``Patient.id``,
    evaluated once, in a CTE) with each of its alerts opened in the period (NULLs for a
    patient without any): ``(patient_id, alert_id, critical, auto_recovered, steps,
    seconds to acknowledge, seconds to resolve)``."""
    members = select(col(Patient.id).label("pid")).where(team).cte("team")
    opened = and_(col(Alert.patient_id) == members.c.pid,
                  col(Alert.opened_at) >= start, col(Alert.opened_at) < end)
    return list((await _run(session, select(
        members.c.pid, col(Alert.id),
        case((col(Alert.severity) == "critical", 1), else_=0),
        case((_auto_recovered(), 1), else_=0),
        col(Alert.escalation_step),
        _seconds(session, col(Alert.acknowledged_at), col(Alert.opened_at)),
        _seconds(session, col(Alert.resolved_at), col(Alert.opened_at)),
    ).select_from(members.outerjoin(Alert, opened)))).all())


@dataclass(slots=True)
class _Tally:
    """One patient's (or the team's) alerts, added up in Python from `_team_alerts`."""

    alerts: int = 0
    critical: int = 0
    auto_recovered: int = 0
    escalations: int = 0
    escalated_alerts: int = 0
    acks: list[float] = field(default_factory=list)
    resolves: list[float] = field(default_factory=list)

    def add(self, critical: Any, auto: Any, steps: Any, to_ack: Any, to_resolve: Any) -> None:
        self.alerts += 1
        self.critical += critical or 0
        self.auto_recovered += auto or 0
        if steps:
            self.escalations += steps
            self.escalated_alerts += 1
        if to_ack is not None:
            self.acks.append(max(0.0, round(float(to_ack), 1)))
        if to_resolve is not None:
            self.resolves.append(max(0.0, round(float(to_resolve), 1)))

    def merge(self, other: _Tally) -> None:
        self.alerts += other.alerts
        self.critical += other.critical
        self.auto_recovered += other.auto_recovered
        self.escalations += other.escalations
        self.escalated_alerts += other.escalated_alerts
        self.acks.extend(other.acks)
        self.resolves.extend(other.resolves)

    def burden(self, patients: int, days: float,
               nurse_load: float | None = None) -> rules.Burden:
        counts = rules.Counts(patients=patients, alerts=self.alerts, critical=self.critical,
                              auto_recovered=self.auto_recovered,
                              escalations=self.escalations,
                              escalated_alerts=self.escalated_alerts)
        return rules.burden(counts, days, rules.stats(self.acks), rules.stats(self.resolves),
                            nurse_load)


async def team_burden(session: AsyncSession, who: Principal, *, days: int,
                      now: datetime | None = None,
                      request_id: str | None = None) -> TeamBurden:
    """The alarm burden of ``who``'s care team over the last ``days`` days (clinicians;
    the patients shown are audited as an alert read). The team's condition is evaluated by
    two statements (its alerts, its nurses' load), whatever the population; then the names
    of the patients shown."""
    if not who.is_clinician:
        raise forbidden("Only doctors and nurses see the alarm burden of their care team.")
    end = now or utcnow()
    start = end - timedelta(days=days)
    team = scope.alerting(col(Patient.id), who)
    assert team is not None  # a clinician's team is a condition, never "everyone"
    members: set[str] = set()
    by_patient: dict[str, _Tally] = {}
    for pid, alert_id, *figures_of_alert in await _team_alerts(session, team, start, end):
        members.add(pid)
        if alert_id is not None:
            tally = by_patient.get(pid)
            if tally is None:
                tally = by_patient[pid] = _Tally()
            tally.add(*figures_of_alert)
    total = _Tally()
    for tally in by_patient.values():
        total.merge(tally)
    nurse_team = condition_on(col(CareTeamMember.patient_id), team_of=team)
    period = (end - start) / timedelta(days=1)
    figures = total.burden(len(members), period,
                           await _nurse_load(session, nurse_team, start, end))
    ranked = sorted(by_patient.items(),
                    key=lambda item: (-item[1].alerts, item[0]))[:MAX_PATIENT_ROWS]
    names = {pid: f"{family} {given}" for pid, family, given in (await _run(session,
        select(col(Patient.id), col(Patient.family_name), col(Patient.given_name))
        .where(col(Patient.id).in_([pid for pid, _ in ranked])))).all()}
    patients = [PatientBurden(pid, names.get(pid, ""), tally.burden(1, figures.days))
                for pid, tally in ranked]
    await record_reads(session, actor=who, resource="alert",
                       reads=[(p.patient_id, None) for p in patients],
                       reason=because("alarm_burden"), request_id=request_id)
    await session.commit()
    return TeamBurden(start, end, figures, patients)


async def platform_burden(session: AsyncSession, *, days: int = rules.DEFAULT_DAYS,
                          now: datetime | None = None) -> rules.Burden:
    """The whole platform's figures (the operators' metrics: no patient named)."""
    end = now or utcnow()
    start = end - timedelta(days=days)
    return await _figures(session, start, end)

