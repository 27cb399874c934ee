"""Escalation that reaches a person: the chain, one step per unacknowledged period.

The chain of an alert (each level without anyone new is skipped):

1. the clinicians on call at that moment (``telemed.notify.oncall``);
2. the patient's responsible doctor (else a doctor of the care team);
3. every other clinician of the care team (doctors and nurses).

The first step is taken ``escalate_after_minutes`` after the alert opened, each further step
the same period after the previous one; past the end of the chain everyone in it is notified
again, period after period, until a person acknowledges or resolves the alert. A snoozed alert
takes no step while snoozed (a worse severity clears the snooze). Only critical alerts escalate,
so a warning never pages anyone, by night or by day.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import Alert, CareTeamMember, Patient, User
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


async def escalate_step(session: AsyncSession, alert: Alert, minutes: int,
                        now: datetime) -> AlertChange | None:
    """Take the alert's next chain step when it is due; None when nothing is due."""
    if alert.status != "open" or alert.severity != "critical":
        return None
    if alert.snoozed_until is not None and alert.snoozed_until > now:
        return None
    if not step_due(alert.opened_at, alert.escalated_at, minutes, now):
        return None
    patient = await session.get(Patient, alert.patient_id)
    if patient is None:
        return None
    targets = step_targets(alert.escalation_step,
                           await chain_levels(session, alert.patient_id, now))
    alert.escalation_step += 1
    alert.escalated_at = now
    await outbox.alert_escalated(session, alert, patient, targets, alert.escalation_step, now)
    return await alerts.escalate(session, alert, ",".join(targets) or None, now)
