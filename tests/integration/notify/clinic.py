"""Helpers of the notification tests: a ward with emails, an on-call doctor, time control."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from sqlmodel import col, select

from telemed import keys
from telemed.db.models import (
    Alert,
    CareTeamMember,
    Notification,
    NotificationDelivery,
    OnCallShift,
    User,
)
from telemed.domain import alarm_burden as burden_rules
from telemed.notify.setup import NOTIFIER
from telemed.notify.worker import DeliveryWorker
from telemed.services import rules
from telemed.services.alarm_burden import platform_burden
from tests.conftest import World
from tests.helpers.ward import Ward
from tests.integration.monitoring import add_plan, alerts_of, now_s

PLAN = {"goals": ["Scompenso cardiaco cronico NYHA III: peso stabile, furosemide 25 mg"],
        "escalate_after_minutes": 15,
        "monitoring": [{"metric": "spo2", "schedule": {"continuous": True},
                        "bands": {"critical_low": 88, "warning_low": 92}}]}


class Clinic:
    """A ward whose clinicians have email addresses, a responsible doctor and an on-call
    doctor from another team, and a clock the test moves."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.now = datetime.now(UTC)

    async def build(self, plan: dict[str, Any] | None = None) -> Clinic:
        self.ward = await Ward(self.world).build()
        self.oncall = await self.world.user("doctor")
        app = self.world.app
        async with app[keys.SESSIONS]() as session:
            for who, address in ((self.ward.doctor, "doctor@asl.example"),
                                 (self.ward.nurse, "nurse@asl.example"),
                                 (self.oncall, "oncall@asl.example"),
                                 (self.ward.patient_user, "patient@home.example")):
                user = await session.get(User, who["id"])
                assert user is not None
                user.email = address
                session.add(user)
            member = await session.get(CareTeamMember, (self.ward.patient.id,
                                                        self.ward.doctor["id"]))
            assert member is not None
            member.responsible = True
            session.add(member)
            await session.commit()
        await add_plan(app, self.ward.patient.id, self.ward.doctor["id"], plan or PLAN)
        return self

    @property
    def worker(self) -> DeliveryWorker:
        worker = self.world.app[NOTIFIER]
        worker.clock = lambda: self.now
        return worker

    async def put_on_call(self, user_id: str, hours: float = 12) -> None:
        async with self.world.app[keys.SESSIONS]() as session:
            session.add(OnCallShift(user_id=user_id, starts_at=self.now - timedelta(hours=1),
                                    ends_at=self.now + timedelta(hours=hours),
                                    created_by=user_id))
            await session.commit()

    async def critical(self) -> str:
        await self.ward.send(("spo2", 85, "%", now_s()))
        alerts = await alerts_of(self.world.app, self.ward.patient.id)
        assert alerts and alerts[-1].severity == "critical"
        return alerts[-1].id

    async def jobs_after(self, minutes: float) -> list[str]:
        """Move the clock and run the periodic rules (escalation) at that time."""
        self.now += timedelta(minutes=minutes)
        async with self.world.app[keys.SESSIONS]() as session:
            changes = await rules.run_jobs(session, self.now)
            await session.commit()
        return [c.change for c in changes]

    async def notifications(self, user_id: str | None = None,
                            kind: str | None = None) -> list[Notification]:
        async with self.world.app[keys.SESSIONS]() as session:
            stmt = select(Notification).order_by(col(Notification.created_at))
            if user_id is not None:
                stmt = stmt.where(Notification.user_id == user_id)
            if kind is not None:
                stmt = stmt.where(Notification.kind == kind)
            return list((await session.exec(stmt)).all())

    async def deliveries(self) -> list[NotificationDelivery]:
        async with self.world.app[keys.SESSIONS]() as session:
            return list((await session.exec(
                select(NotificationDelivery)
                .order_by(col(NotificationDelivery.created_at)))).all())


def with_mail(settings: Any, url: str, **more: Any) -> Any:
    """The test settings with a mail server (and more notification settings)."""
    return settings.model_copy(update={"smtp_url": url,
                                       "mail_from": "Telemed <telemed@asl.example>", **more})


def postgres_mail_app(settings: Any, postgres_url: str, smtp_url: str) -> web.Application:
    """The app of `settings` on the PostgreSQL database `postgres_url`, mailing to `smtp_url`."""
    from telemed.settings import load_settings

    values = with_mail(settings, smtp_url).model_dump()
    values["database_url"] = postgres_url
    return app_of(load_settings(**values))


def app_of(settings: Any) -> web.Application:
    from telemed.app import create_app

    return create_app(settings)


def _alert(patient_id: str, n: int, opened: datetime, **more: Any) -> Alert:
    return Alert(patient_id=patient_id, rule_key=f"threshold:spo2:{n}", kind="threshold",
                 metric="spo2", severity=more.pop("severity", "warning"),
                 status=more.pop("status", "open"), opened_at=opened, updated_at=opened,
                 **more)


async def burden_ward(world: World) -> Ward:
    """A ward with a week of alerts of known figures (and another team's patient)."""
    ward = await Ward(world).build()
    p, o = ward.patient.id, ward.other.id
    now = datetime.now(UTC) - timedelta(minutes=1)
    day = timedelta(days=1)
    rows = [
        # acknowledged after 60 s, resolved after 600 s
        _alert(p, 1, now - 3 * day, status="resolved", acknowledged_at=now - 3 * day
               + timedelta(seconds=60), resolved_at=now - 3 * day + timedelta(seconds=600)),
        # recovered after 30 s, before anyone looked; acknowledged after 120 s; escalated twice
        _alert(p, 2, now - 2 * day, severity="critical", status="acknowledged",
               recovered=True, recovered_at=now - 2 * day + timedelta(seconds=30),
               acknowledged_at=now - 2 * day + timedelta(seconds=120), escalation_step=2,
               escalated=True),
        # acknowledged before it recovered: somebody looked
        _alert(p, 3, now - day, recovered=True, recovered_at=now - day + timedelta(hours=1),
               status="acknowledged", acknowledged_at=now - day + timedelta(seconds=300)),
        # before the period: not counted
        _alert(p, 4, now - 10 * day),
        # another team's patient: never in this team's figures
        *[_alert(o, 10 + i, now - day, severity="critical") for i in range(5)],
    ]
    async with world.app[keys.SESSIONS]() as session:
        session.add_all(rows)
        for hours in (1, 2, 3):  # notifications of the team's nurse
            session.add(Notification(user_id=ward.nurse["id"], kind="alert_escalated",
                                     title_code="alert_escalated", params={}, link="/alerts",
                                     cause_type="alert", cause_id="x",
                                     created_at=now - timedelta(hours=hours)))
        await session.commit()
    return ward


ORDER_SIZES = [1, 2, 3, 4, 7, 10, 30, 31]


async def check_order_statistics(world: World, count: int) -> None:
    """The median and p90 the database picks (the values around the domain's ranks, sorted
    by a window) are `domain.alarm_burden.stats` of the same durations, for odd and even
    samples and for sizes where 0.9 × n is whole (30) or not (31)."""
    patient = await world.patient()
    now = datetime(2026, 3, 2, tzinfo=UTC)
    waits = [(37 * k) % 101 + 0.2 * (k % 3) for k in range(count)]  # seconds, with ties
    async with world.app[keys.SESSIONS]() as session:
        for k, wait in enumerate(waits):
            opened = now - timedelta(hours=1, minutes=k)
            session.add(Alert(patient_id=patient.id, rule_key=f"r{k}", kind="threshold",
                              metric="spo2", severity="warning", status="resolved", value=90,
                              detail="-", opened_at=opened,
                              acknowledged_at=opened + timedelta(seconds=wait),
                              resolved_at=opened + timedelta(seconds=2 * wait), seq=k + 1))
        await session.commit()
        found = await platform_burden(session, days=1, now=now)
    assert (found.ack_median_s, found.ack_p90_s) == burden_rules.stats(
        [max(0.0, round(w, 1)) for w in waits])
    assert (found.resolve_median_s, found.resolve_p90_s) == burden_rules.stats(
        [max(0.0, round(2 * w, 1)) for w in waits])
