"""Alarm burden of a care team and of each of its patients, and of the whole platform
(docs/notifications.md, "Alarm burden"; the definitions are in `telemed.domain.alarm_burden`).

A clinician's *care team* is the set of patients whose alerts it receives
(`telemed.services.scope.alerting`: its care teams, with the patients' consent), one SQL
condition read by two statements whatever the population: the team's figures (the team and
its alerts of the period are CTEs, over ``ix_alerts_opened_patient``; the database adds up
each patient's counts and sorts the team's times), and its nurses' notifications; then the
names and times of the patients shown (at most 200). The medians and p90s are picked by the
database at the ranks the domain names (`median_ranks`, `nearest_rank_index`): a window
function numbers the sorted durations and the few values around those ranks come back
(`_ranked`), on both engines; the platform's figures (no team) the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)
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
    """The median and p90 of a duration over the matching alerts: the database sorts and
    returns the few values around the domain's ranks (`_ranked`), on both engines."""
    return _order_stats_of(list((await _run(session, _ranked("d", duration, *where))).all()))


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


def _ranked(name: str, duration: Any, *where: Any) -> Any:
    """The values of ``duration`` (none missing) around the ranks the domain picks the
    median and the p90 at (0-based ``(n-1)//2``, ``n//2``; ``ceil(0.9 n) - 1`` with a rank
    either side), each with its rank and ``n``: a few rows whatever the team's alerts. The
    domain's functions then pick among them (`_order_stats_of`)."""
    ranked = select(duration.label("v"),
                    (func.row_number().over(order_by=duration) - 1).label("i"),
                    func.count().over().label("n")).where(duration.is_not(None), *where
                                                          ).subquery(name)
    i, n = ranked.c.i, ranked.c.n
    around = or_(and_(i >= (n - 1) // 2, i <= n // 2),
                 and_(i >= (9 * n) // 10 - 1, i <= (9 * n) // 10 + 1))
    return select(literal(name), cast(i, String()), n, *[null()] * 4,
                  cast(ranked.c.v, Float())).where(around)


def _order_stats_of(rows: list[Any]) -> rules.Stats:
    """The median and p90 from `_ranked`'s rows, at the positions the domain names, each
    duration rounded as the domain's samples are (`_duration`)."""
    if not rows:
        return None, None
    n = int(rows[0][2])
    value = {int(row[1]): _duration(row[7]) for row in rows}
    lo, hi = rules.median_ranks(n)
    return (value[lo] + value[hi]) / 2, value[rules.nearest_rank_index(n, 90)]


def _duration(seconds: Any) -> float:
    """A duration the database computed, as the figures use it (0.1 s, never negative)."""
    return max(0.0, round(float(seconds), 1))


@dataclass(frozen=True, slots=True)
class _TeamFigures:
    size: int
    counts: dict[str, rules.Counts]  # patient id → its alerts' counts (patients with alerts)
    ack: rules.Stats
    resolve: rules.Stats


async def _team_figures(session: AsyncSession, team: ColumnElement[bool], start: datetime,
                        end: datetime) -> _TeamFigures:
    """One statement; the team (``team``, a condition on ``Patient.id``) is evaluated once,
    in a CTE, and its alerts of the period are another: the team's size, each patient's
    counts, and the rows of the team's times around the median and p90 ranks. The database
    adds up and sorts; one row per patient with alerts travels, not one per alert."""
    members = select(col(Patient.id).label("pid")).where(team).cte("team")
    alerts = (select(
        col(Alert.patient_id).label("pid"),
        case((col(Alert.severity) == "critical", 1), else_=0).label("critical"),
        case((_auto_recovered(), 1), else_=0).label("auto"),
        col(Alert.escalation_step).label("steps"),
        _seconds(session, col(Alert.acknowledged_at), col(Alert.opened_at)).label("ack"),
        _seconds(session, col(Alert.resolved_at), col(Alert.opened_at)).label("resolve"),
    ).where(col(Alert.patient_id).in_(select(members.c.pid)))
        .where(col(Alert.opened_at) >= start, col(Alert.opened_at) < end)).cte("team_alerts")
    c = alerts.c
    per_patient = select(
        literal("patient"), c.pid, func.count(), func.sum(c.critical), func.sum(c.auto),
        func.sum(c.steps), func.sum(case((c.steps > 0, 1), else_=0)),
        cast(null(), Float())).group_by(c.pid)
    size = select(literal("members"), cast(null(), String()),
                  select(func.count()).select_from(members).scalar_subquery(),
                  *[null()] * 4, cast(null(), Float()))
    rows = (await _run(session, union_all(per_patient, _ranked("ack", c.ack),
                                          _ranked("resolve", c.resolve), size))).all()
    by_kind: dict[str, list[Any]] = {"patient": [], "ack": [], "resolve": [], "members": []}
    for row in rows:
        by_kind[row[0]].append(row)
    counts = {}
    for _, pid, *figures in by_kind["patient"]:
        alerts_, critical, auto, steps, escalated = (int(v or 0) for v in figures[:5])
        counts[str(pid)] = rules.Counts(patients=1, alerts=alerts_, critical=critical,
                                        auto_recovered=auto, escalations=steps,
                                        escalated_alerts=escalated)
    return _TeamFigures(int(by_kind["members"][0][2]), counts,
                        _order_stats_of(by_kind["ack"]), _order_stats_of(by_kind["resolve"]))


async def _patients_shown(session: AsyncSession, patient_ids: list[str], start: datetime,
                          end: datetime) -> tuple[dict[str, str], dict[str, _Times]]:
    """The names of the patients shown and their times (one statement: their alerts of the
    period, a few per patient of at most 200)."""
    rows = (await _run(session, select(
        col(Patient.id), col(Patient.family_name), col(Patient.given_name),
        _seconds(session, col(Alert.acknowledged_at), col(Alert.opened_at)),
        _seconds(session, col(Alert.resolved_at), col(Alert.opened_at)),
    ).select_from(Patient).outerjoin(Alert, and_(
        col(Alert.patient_id) == col(Patient.id), col(Alert.opened_at) >= start,
        col(Alert.opened_at) < end))
        .where(col(Patient.id).in_(patient_ids)))).all()
    names: dict[str, str] = {}
    times: dict[str, _Times] = {}
    for pid, family, given, to_ack, to_resolve in rows:
        names[pid] = f"{family} {given}"
        found = times.setdefault(pid, _Times())
        if to_ack is not None:
            found.acks.append(_duration(to_ack))
        if to_resolve is not None:
            found.resolves.append(_duration(to_resolve))
    return names, times


@dataclass(slots=True)
class _Times:
    """One patient's times to acknowledge and to resolve (the domain's samples)."""

    acks: list[float] = field(default_factory=list)
    resolves: list[float] = field(default_factory=list)


async def team_burden(session: AsyncSession, who: Principal, *, days: int,
                      now: datetime | None = None,
                      request_id: str | None = None) -> TeamBurden:
    """The alarm burden of ``who``'s care team over the last ``days`` days (clinicians;
    the patients shown are audited as an alert read). The team's condition is evaluated by
    two statements (its figures, its nurses' load), whatever the population; then the
    names and times of the patients shown."""
    if not who.is_clinician:
        raise forbidden("Only doctors and nurses see the alarm burden of their care team.")
    end = now or utcnow()
    start = end - timedelta(days=days)
    team = scope.alerting(col(Patient.id), who)
    assert team is not None  # a clinician's team is a condition, never "everyone"
    found = await _team_figures(session, team, start, end)
    total = rules.Counts(patients=found.size, **{
        name: sum(getattr(c, name) for c in found.counts.values())
        for name in ("alerts", "critical", "auto_recovered", "escalations",
                     "escalated_alerts")})
    nurse_team = condition_on(col(CareTeamMember.patient_id), team_of=team)
    period = (end - start) / timedelta(days=1)
    figures = rules.burden(total, period, found.ack, found.resolve,
                           await _nurse_load(session, nurse_team, start, end))
    ranked = sorted(found.counts.items(),
                    key=lambda item: (-item[1].alerts, item[0]))[:MAX_PATIENT_ROWS]
    names, times = await _patients_shown(session, [pid for pid, _ in ranked], start, end)
    patients = []
    for pid, counts in ranked:
        mine = times.get(pid, _Times())
        patients.append(PatientBurden(pid, names.get(pid, ""), rules.burden(
            counts, figures.days, rules.stats(mine.acks), rules.stats(mine.resolves))))
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

