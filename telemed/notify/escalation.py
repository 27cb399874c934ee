"""Escalation that reaches a person: the chain, one step per unacknowledged period.

The chain of an alert (each level without anyone new is skipped):

1. the clinicians on call at that moment (``telemed.notify.oncall``);
2. the patient's responsible doctor (else a doctor of the care team);
3. every other clinician of the care team (doctors and nurses).

The first step is taken ``escalate_after_minutes`` after the alert opened, each further step
the same period after the previous one; past the end of the chain everyone in it is notified
again, period after period, until a person acknowledges or resolves the alert. A snoozed alert
takes no step while snoozed (a worse severity clears the snooze). Only critical alerts escalate,
unless the care plan's ``page_warnings`` lets warnings page by day (``day``: a step due in the
night hours waits for the morning) or at any hour (``day_and_night``): ``telemed.domain.quiet``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import Alert, CareTeamMember, Patient, User
from telemed.domain.quiet import may_page
from telemed.notify import outbox
from telemed.notify.oncall import on_call_at
from telemed.services import alerts
from telemed.services.alerts import AlertChange
from telemed.services.context import responsible_doctor


def step_targets(step: int, levels: Sequence[Sequence[str]]) -> list[str]:
    """Who is notified at chain step ``step`` (0-based) given the chain's ``levels``."""
    effective: list[list[str]] = []
    seen: set[str] = set()
    for level in levels:
        new = [u for u in dict.fromkeys(level) if u not in seen]
        if new:
            effective.append(new)
            seen.update(new)
    if not effective:
        return []
    if step < len(effective):
        return effective[step]
    return [u for level in effective for u in level]


def step_due(opened_at: datetime, escalated_at: datetime | None, minutes: int,
             now: datetime) -> bool:
    """Whether the next step is due: a period after the opening or the previous step."""
    return now - (escalated_at or opened_at) >= timedelta(minutes=minutes)


async def chain_levels(session: AsyncSession, patient_id: str, now: datetime) -> list[list[str]]:
    """The chain's levels for a patient at ``now``."""
    doctor = await responsible_doctor(session, patient_id)
    team = (await session.exec(
        select(CareTeamMember.user_id).join(User, col(User.id) == col(CareTeamMember.user_id))
        .where(CareTeamMember.patient_id == patient_id)
        .where(col(User.role).in_(outbox.CLINICIANS)).where(col(User.active))
        .order_by(col(CareTeamMember.added_at)))).all()
    return [await on_call_at(session, now), [doctor] if doctor else [], list(team)]


async def chain_levels_of(session: AsyncSession, patient_ids: Sequence[str],
                          now: datetime) -> dict[str, list[list[str]]]:
    """`chain_levels` of many patients: the clinicians on call read once, the care teams a
    few hundred patients per query (a pass with many due steps)."""
    on_call = await on_call_at(session, now)
    wanted = sorted(set(patient_ids))
    members: dict[str, list[tuple[str, str, bool, datetime]]] = {pid: [] for pid in wanted}
    for start in range(0, len(wanted), 500):
        stmt: Any = (  # five columns: more than sqlmodel's typed select takes
            sa_select(col(CareTeamMember.patient_id), col(CareTeamMember.user_id),
                      col(User.role), col(CareTeamMember.responsible),
                      col(CareTeamMember.added_at))
            .join(User, col(User.id) == col(CareTeamMember.user_id))
            .where(col(CareTeamMember.patient_id).in_(wanted[start:start + 500]))
            .where(col(User.active)))
        for pid, uid, role, responsible, added in (await session.exec(stmt)).all():
            members[pid].append((uid, role, bool(responsible), added))
    out: dict[str, list[list[str]]] = {}
    for pid, team in members.items():
        by_age = sorted(team, key=lambda m: m[3])
        doctors = sorted((m for m in by_age if m[1] == "doctor"), key=lambda m: not m[2])
        clinicians = [m[0] for m in by_age if m[1] in outbox.CLINICIANS]
        out[pid] = [list(on_call), [doctors[0][0]] if doctors else [], clinicians]
    return out


@dataclass(frozen=True, slots=True)
class Waiting:
    """An alert that may take its next step: the plan's period and ``page_warnings``."""

    alert: Alert
    minutes: int
    page_warnings: str | None = None


def takes_step(waiting: Waiting, now: datetime, at_night: bool) -> bool:
    """Whether the alert's next chain step is due now (open, may page at this hour, not
    snoozed, a period after the opening or the previous step)."""
    alert = waiting.alert
    if alert.status != "open" or not may_page(alert.severity, waiting.page_warnings, at_night):
        return False
    if alert.snoozed_until is not None and alert.snoozed_until > now:
        return False
    return step_due(alert.opened_at, alert.escalated_at, waiting.minutes, now)


async def escalate_steps(session: AsyncSession, waiting: Sequence[Waiting], now: datetime,
                         levels: dict[str, list[list[str]]] | None = None, *,
                         at_night: bool = False) -> list[AlertChange]:
    """Take the next chain step of each alert whose step is due, in order, as if one after
    the other: the patients and chains (``levels``: when the caller read them with
    `chain_levels_of`), the recipients' preferences and foldable notifications read a few
    hundred at a time, the notifications, alert updates, audit rows and sequence numbers
    written together. The statements do not grow with the number of steps taken."""
    due = [w.alert for w in waiting if takes_step(w, now, at_night)]
    if not due:
        return []
    ids = sorted({alert.patient_id for alert in due})
    patients = await alerts.patients_by_id(session, ids)
    if levels is None:
        levels = await chain_levels_of(session, ids, now)
    taken: list[tuple[Alert, Patient, list[str]]] = []
    for alert in due:
        patient = patients.get(alert.patient_id)
        if patient is not None:
            taken.append((alert, patient,
                          step_targets(alert.escalation_step, levels.get(alert.patient_id, []))))
    # The notifications first, the alerts untouched (nothing of theirs flushed early), then
    # every alert's change in one write with its sequence number.
    await outbox.record_many(session, [
        outbox.escalated_ask(alert, patient, targets, alert.escalation_step + 1)
        for alert, patient, targets in taken], now)
    for alert, _, _ in taken:
        alert.escalation_step += 1
        alert.escalated_at = now
    return await alerts.escalate_many(
        session, [(alert, patient, ",".join(targets) or None)
                  for alert, patient, targets in taken], now)


async def escalate_step(session: AsyncSession, alert: Alert, minutes: int,
                        now: datetime, levels: list[list[str]] | None = None, *,
                        page_warnings: str | None = None, at_night: bool = False
                        ) -> AlertChange | None:
    """Take the alert's next chain step when it is due; None when nothing is due
    (`escalate_steps` of one alert; ``levels``: the patient's chain, when read already;
    ``page_warnings``: the plan's choice, ``at_night``: whether ``now`` is in the night)."""
    changes = await escalate_steps(
        session, [Waiting(alert, minutes, page_warnings)], now,
        {alert.patient_id: levels} if levels is not None else None, at_night=at_night)
    return changes[0] if changes else None
