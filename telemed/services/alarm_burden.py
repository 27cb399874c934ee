"""Alarm burden of a care team and of each of its patients, and of the whole platform
(docs/notifications.md, "Alarm burden"; the definitions are in `telemed.domain.alarm_burden`).

A clinician's *care team* is the set of patients whose alerts it receives
(`telemed.services.scope.alerting`: its care teams, with the patients' consent). Everything
is aggregated in SQL over the alerts opened in the period (``ix_alerts_opened_patient``):
one grouped query for the counts, the team's median and p90 times (on PostgreSQL picked by the
database at the ranks the domain names, `median_ranks` and `nearest_rank_index`; on SQLite
from the durations the database computed), the times of the patients shown (at most 200),
the team's size and its nurses' notifications; no query per patient, whatever the population.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import Alert, CareTeamMember, Notification, Patient, User
from telemed.db.types import utcnow
from telemed.domain import alarm_burden as rules
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


async def _times(session: AsyncSession, where: list[Any]
                 ) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Seconds to acknowledge and to resolve, by patient (to a tenth: SQLite's julianday
    arithmetic is off by microseconds)."""
    ack = _seconds(session, col(Alert.acknowledged_at), col(Alert.opened_at))
    res = _seconds(session, col(Alert.resolved_at), col(Alert.opened_at))
    rows = (await _run(
        session,
        select(col(Alert.patient_id), ack, res).where(*where)
        .where(or_(col(Alert.acknowledged_at).is_not(None),
                   col(Alert.resolved_at).is_not(None))))).all()
    acks: dict[str, list[float]] = {}
    resolves: dict[str, list[float]] = {}
    for patient_id, to_ack, to_resolve in rows:
        if to_ack is not None:
            acks.setdefault(patient_id, []).append(max(0.0, round(float(to_ack), 1)))
        if to_resolve is not None:
            resolves.setdefault(patient_id, []).append(max(0.0, round(float(to_resolve), 1)))
    return acks, resolves


async def _nurse_load(session: AsyncSession, team: ColumnElement[bool] | None,
                      start: datetime, end: datetime) -> float | None:
    """Notifications recorded for the team's nurses per nurse per shift."""
    nurses: Any = select(col(User.id)).where(col(User.role) == "nurse").where(col(User.active))
    if team is not None:
        nurses = nurses.where(col(User.id).in_(
            select(col(CareTeamMember.user_id)).where(team)))
    count = int((await _run(session,
        select(func.count()).select_from(nurses.subquery()))).scalar_one())
    sent = int((await _run(session,
        select(func.count(col(Notification.id)))
        .where(col(Notification.user_id).in_(nurses))
        .where(col(Notification.created_at) >= start)
        .where(col(Notification.created_at) < end))).scalar_one())
    return rules.per_nurse_shift(sent, count, end - start)


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


async def _figures(session: AsyncSession, condition: Any, team: Any, start: datetime,
                   end: datetime, per_patient: bool = True
                   ) -> tuple[rules.Burden, list[Any]]:
    """The figures of the patients matching ``condition`` (None: everyone), and the counts
    of each patient when ``per_patient``."""
    where: list[Any] = [col(Alert.opened_at) >= start, col(Alert.opened_at) < end]
    if condition is not None:
        where.append(condition)
    size_q: Any = select(func.count(col(Patient.id)))
    if team is not None:
        size_q = size_q.where(team)
    size = int((await _run(session, size_q)).scalar_one())
    if per_patient:  # the team's totals are the sums of its patients' rows: one scan
        rows = list((await _run(session, select(col(Alert.patient_id), *_counts_columns())
                                .where(*where).group_by(col(Alert.patient_id)))).all())
        total: Any = [sum(int(r[i] or 0) for r in rows) for i in range(1, 6)]
    else:
        rows = []
        total = (await _run(session, select(*_counts_columns()).where(*where))).one()
    ack = await _order_stats(
        session, _seconds(session, col(Alert.acknowledged_at), col(Alert.opened_at)), where)
    resolve = await _order_stats(
        session, _seconds(session, col(Alert.resolved_at), col(Alert.opened_at)), where)
    nurse_team = None
    if team is not None:
        nurse_team = condition_on(col(CareTeamMember.patient_id), team_of=team)
    days = (end - start) / timedelta(days=1)
    figures = rules.burden(_counts(size, total), days, ack, resolve,
                           await _nurse_load(session, nurse_team, start, end))
    return figures, rows


def condition_on(column: Any, *, team_of: Any) -> Any:
    """``team_of`` (a condition on ``Patient.id``) applied to another patient-id column."""
    return column.in_(select(col(Patient.id)).where(team_of))


async def team_burden(session: AsyncSession, who: Principal, *, days: int,
                      now: datetime | None = None,
                      request_id: str | None = None) -> TeamBurden:
    """The alarm burden of ``who``'s care team over the last ``days`` days (clinicians;
    the patients shown are audited as an alert read)."""
    if not who.is_clinician:
        raise forbidden("Only doctors and nurses see the alarm burden of their care team.")
    end = now or utcnow()
    start = end - timedelta(days=days)
    team = scope.alerting(col(Patient.id), who)
    in_team = condition_on(col(Alert.patient_id), team_of=team)
    figures, per_patient = await _figures(session, in_team, team, start, end)
    ranked = sorted(per_patient, key=lambda r: (-int(r[1] or 0), r[0]))[:MAX_PATIENT_ROWS]
    acks, resolves = await _times(session, [
        col(Alert.opened_at) >= start, col(Alert.opened_at) < end,
        col(Alert.patient_id).in_([r[0] for r in ranked])])
    names = {pid: f"{family} {given}" for pid, family, given in (await _run(session,
        select(col(Patient.id), col(Patient.family_name), col(Patient.given_name))
        .where(col(Patient.id).in_([r[0] for r in ranked])))).all()}
    patients = [PatientBurden(row[0], names.get(row[0], ""),
                              rules.burden(_counts(1, row[1:]), figures.days,
                                           rules.stats(acks.get(row[0], [])),
                                           rules.stats(resolves.get(row[0], []))))
                for row in ranked]
    await record_reads(session, actor=who, resource="alert",
                       reads=[(p.patient_id, None) for p in patients],
                       reason="alarm burden", request_id=request_id)
    await session.commit()
    return TeamBurden(start, end, figures, patients)


async def platform_burden(session: AsyncSession, *, days: int = rules.DEFAULT_DAYS,
                          now: datetime | None = None) -> rules.Burden:
    """The whole platform's figures (the operators' metrics: no patient named)."""
    end = now or utcnow()
    start = end - timedelta(days=days)
    figures, _ = await _figures(session, None, None, start, end, per_patient=False)
    return figures

