"""The scenarios of the escalation statement-count tests (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from telemed import keys
from telemed.db.models import Alert, AuditEvent, CareTeamMember, Notification, OnCallShift
from telemed.db.types import utcnow
from telemed.ingest import scheduler
from telemed.services import rules
from telemed.services.plan_cache import PlanCache
from tests.conftest import World
from tests.helpers.statements import counting


async def _staff(world: World) -> dict[str, dict[str, str]]:
    people = {"doctor": await world.user("doctor"), "nurse": await world.user("nurse"),
              "oncall": await world.user("nurse")}
    now = utcnow()
    async with world.app[keys.SESSIONS]() as session:
        session.add(OnCallShift(user_id=people["oncall"]["id"], starts_at=now - timedelta(hours=1),
                                ends_at=now + timedelta(hours=6),
                                created_by=people["doctor"]["id"]))
        await session.commit()
    return people


async def _patient(world: World, people: dict[str, dict[str, str]]) -> str:
    patient = await world.patient(team=[people["doctor"]["id"], people["nurse"]["id"]])
    async with world.app[keys.SESSIONS]() as session:
        member = await session.get(CareTeamMember, (patient.id, people["doctor"]["id"]))
        assert member is not None
        member.responsible = True
        await session.commit()
    return patient.id


async def _due(world: World, people: dict[str, dict[str, str]], count: int) -> list[str]:
    """``count`` critical alerts whose next step is due, at chain steps 0, 1 and 2."""
    now = utcnow()
    made: list[str] = []
    patients = [await _patient(world, people) for _ in range(count)]
    async with world.app[keys.SESSIONS]() as session:
        last = (await session.exec(select(func.coalesce(func.max(Alert.seq), 0)))).one()
        for n, patient_id in enumerate(patients):
            step = n % 3
            alert = Alert(patient_id=patient_id, rule_key="threshold:spo2", kind="threshold",
                          metric="spo2", severity="critical", status="open", value=85,
                          detail="SpO2 85 %", opened_at=now - timedelta(hours=2),
                          escalation_step=step, escalated=step > 0,
                          escalated_at=now - timedelta(hours=1) if step else None,
                          seq=last + n + 1)
            session.add(alert)
            await session.flush()
            made.append(alert.id)
        await session.commit()
    return made


async def _pass(world: World, cache: PlanCache) -> tuple[int, list[str]]:
    app = world.app
    with counting(app) as statements:
        changes = await scheduler.run_once(app[keys.SESSIONS], app[keys.BUS], cache)
    return changes, statements


async def pass_does_not_grow_with_the_due_escalations(world: World) -> None:
    """A pass with 5 due steps, then one with 50: the same statements."""
    people = await _staff(world)
    cache = PlanCache()
    await _pass(world, cache)  # nothing due: the cache as the scheduler keeps it
    few = await _due(world, people, 5)
    small_changes, small = await _pass(world, cache)
    many = await _due(world, people, 50)
    big_changes, big = await _pass(world, cache)
    assert (small_changes, big_changes) == (5, 50)
    assert len(big) <= len(small), (len(small), len(big), big[:60])
    async with world.app[keys.SESSIONS]() as session:
        rows = (await session.exec(select(Alert).where(col(Alert.id).in_(few + many)))).all()
        sent = (await session.exec(
            select(Notification.cause_id, Notification.user_id)
            .where(Notification.kind == "alert_escalated"))).all()
    assert all(a.escalated and a.escalated_at is not None for a in rows)
    assert len({a.seq for a in rows}) == 55  # one number each, none shared
    # Every step notified its level of the chain: on call (0), the doctor (1), the rest (2).
    by_alert: dict[str, set[str]] = {}
    for cause, user in sent:
        by_alert.setdefault(cause, set()).add(str(user))
    wanted = [{people["oncall"]["id"]}, {people["doctor"]["id"]}, {people["nurse"]["id"]}]
    assert [by_alert[a] for a in many] == [wanted[n % 3] for n in range(50)]


async def steps_fold_and_number_as_one_after_the_other(world: World) -> None:
    """Two alerts of a patient, one folding into an unread notification, one snoozed."""
    people = await _staff(world)
    oncall, doctor = people["oncall"]["id"], people["doctor"]["id"]
    both, folded, snoozed = [await _patient(world, people) for _ in range(3)]
    now = utcnow()
    opened = now - timedelta(minutes=40)
    common: dict[str, Any] = {"kind": "threshold", "severity": "critical", "status": "open",
                              "detail": "x", "opened_at": opened}
    async with world.app[keys.SESSIONS]() as session:
        first = Alert(patient_id=both, rule_key="threshold:spo2", metric="spo2", seq=1,
                      **common)
        second = Alert(patient_id=both, rule_key="threshold:heart_rate", metric="heart_rate",
                       seq=2, **common)
        third = Alert(patient_id=folded, rule_key="threshold:spo2", metric="spo2", seq=3,
                      escalation_step=1, escalated=True,
                      escalated_at=now - timedelta(minutes=20), **common)
        quiet = Alert(patient_id=snoozed, rule_key="threshold:spo2", metric="spo2", seq=4,
                      snoozed_until=now + timedelta(minutes=30), **common)
        session.add_all([first, second, third, quiet])
        # The doctor has an unread notification about the third patient from 3 minutes ago.
        earlier = Notification(user_id=doctor, kind="alert_escalated",
                               title_code="alert_escalated", params={}, link="/alerts",
                               cause_type="alert", cause_id="another-alert",
                               created_at=now - timedelta(minutes=3),
                               fold_key=f"alert_escalated:{folded}")
        session.add(earlier)
        await session.commit()
        ids = [first.id, second.id, third.id, quiet.id]
    async with world.app[keys.SESSIONS]() as session:
        changes = await rules.escalate_overdue(session, now)
        await session.commit()
    assert sorted(c.alert["id"] for c in changes) == sorted(ids[:3])
    assert [c.seq for c in changes] == [5, 6, 7]  # after the last, in the order of changes
    assert [c.alert["escalated_to"] for c in changes] == [
        oncall if c.patient_id == both else doctor for c in changes]
    async with world.app[keys.SESSIONS]() as session:
        rows = {a.id: a for a in (await session.exec(
            select(Alert).where(col(Alert.id).in_(ids)))).all()}
        sent = (await session.exec(select(Notification)
                                   .where(Notification.kind == "alert_escalated")
                                   .order_by(col(Notification.created_at)))).all()
        audits = (await session.exec(select(AuditEvent.resource_id, AuditEvent.reason_params)
                                     .where(AuditEvent.resource == "alert"))).all()
    assert {c.alert["id"]: c.seq for c in changes} == {i: rows[i].seq for i in ids[:3]}
    assert [rows[i].escalation_step for i in ids] == [1, 1, 2, 0]  # the snoozed one waits
    # The patient's two alerts page the on-call nurse once, the second folded into the first;
    # the third alert folds into the doctor's unread notification about its patient.
    first_of_both = next(c.alert["id"] for c in changes if c.patient_id == both)
    assert sorted((n.user_id, n.fold_count, n.cause_id) for n in sent) == sorted([
        (doctor, 2, "another-alert"), (oncall, 2, first_of_both)])
    assert sorted((i, p["user"]) for i, p in audits) == sorted([
        (ids[0], oncall), (ids[1], oncall), (ids[2], doctor)])
