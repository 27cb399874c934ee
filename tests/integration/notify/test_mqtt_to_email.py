"""End to end on real parts: a device publishes through Mosquitto, the reading opens a
critical alert, the escalation reaches the on-call doctor by email (real SMTP server, the
background delivery worker), and the link in the email acknowledges it after login."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.broker import BROKER
from telemed.db.models import OnCallShift, User
from telemed.services import rules
from telemed.services.devices import register_device
from telemed.settings import Settings
from tests.broker_fixture import MqttFactory
from tests.conftest import World
from tests.helpers.pages import log_in, post_form
from tests.helpers.waiting import eventually
from tests.integration.monitoring import add_plan, alerts_of, audit_of, now_s, pack
from tests.integration.notify.clinic import with_mail
from tests.smtp_fixture import MailCatcher, body_of

pytestmark = pytest.mark.broker


@pytest.fixture
def settings(settings: Settings, smtp_server: MailCatcher) -> Settings:
    # scheduler_interval > 0: the delivery worker runs in the background, as in production
    return with_mail(settings, smtp_server.url, scheduler_interval=1)


@pytest.fixture
def app(broker_app: web.Application) -> web.Application:
    return broker_app


async def test_reading_over_mqtt_escalates_by_email_to_the_on_call_doctor(
        client: TestClient[Any, Any], world: World, mqtt_client: MqttFactory,
        smtp_server: MailCatcher) -> None:
    app = world.app
    doctor = await world.user("doctor")
    oncall = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    smtp_server.forbid(patient.given_name, patient.family_name, "BPCO")
    now = datetime.now(UTC)
    async with app[keys.SESSIONS]() as session:
        user = await session.get(User, oncall["id"])
        assert user is not None
        user.email = "oncall@asl.example"
        session.add(user)
        session.add(OnCallShift(user_id=oncall["id"], starts_at=now - timedelta(hours=1),
                                ends_at=now + timedelta(hours=8), created_by=doctor["id"]))
        await session.commit()
        reg = await register_device(session, app[BROKER].dynsec, None, serial=f"SN-{now_s()}",
                                    kind="pulse_oximeter", patient_id=patient.id)
    await add_plan(app, patient.id, doctor["id"], {
        "goals": ["BPCO: saturazione sopra 92"], "escalate_after_minutes": 1,
        "monitoring": [{"metric": "spo2", "schedule": {"continuous": True},
                        "bands": {"critical_low": 88, "warning_low": 92}}]})
    device = await mqtt_client(reg.device.id, reg.password)
    await device.publish(f"telemed/v1/devices/{reg.device.id}/readings",
                         pack(("spo2", 84, "%", now_s())))

    async def opened() -> bool:
        return any(a.severity == "critical" for a in await alerts_of(app, patient.id))

    await eventually(opened)
    [alert] = await alerts_of(app, patient.id)
    # One minute later (time injected), nobody has acknowledged: the escalation pass.
    async with app[keys.SESSIONS]() as session:
        changes = await rules.run_jobs(session, datetime.now(UTC) + timedelta(seconds=61))
        await session.commit()
    assert [c.change for c in changes] == ["escalated"]
    [msg] = await smtp_server.wait_for(1, seconds=20)  # sent by the background worker
    assert msg["To"] == "oncall@asl.example"
    link = re.search(r"http://127\.0\.0\.1:8080(/\S+)", body_of(msg))
    assert link is not None and link[1] == f"/alerts/{alert.id}/acknowledge"

    # The on-call doctor (not on the patient's care team) follows the link after login: the
    # escalation opened the record to them for their shift, audited as on-call access.
    assert (await log_in(client, oncall["username"])).status == 303
    page = await client.get(link[1])
    assert page.status == 200
    assert (await post_form(client, f"/alerts/{alert.id}/ack", {"next": "/alerts"},
                            link[1])).status == 303
    [alert] = await alerts_of(app, patient.id)
    assert alert.status == "acknowledged" and alert.acknowledged_by == oncall["id"]
    trail = await audit_of(app, alert.id)
    assert any(e.actor_id == oncall["id"] and (e.reason_code or "").startswith("oncall_access")
               for e in trail)
