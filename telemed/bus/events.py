"""The events other parts of the platform publish for telemonitoring (one call each).

- ``careplan_changed`` after a plan is activated, edited (new version) or completed: ingest
  workers drop their cached plan and republish the patient's devices' ``config`` topics.
- ``device_changed`` after a device is registered, reassigned, revoked or given new
  credentials: ingest workers drop the cached device and republish its ``config``.
- ``access_changed`` after a patient is registered or their consent or delegates change:
  open alert streams re-read who may see what at once (care-team changes come with
  ``careplan_changed``).
- ``credentials`` after sessions end (logout, "log out everywhere", a password change, a
  deactivated user): live channels opened with them close at once (`telemed.live_channels`).

Use cases do not publish these by hand: they record a typed event (`AccessChanged`,
`CareplanChanged`, `DeviceChanged`, `CredentialsRevoked`, or their own `Announcement` such as
an alert change) on their database
session (`telemed.db.events.record_event`), and the
session publishes what was recorded once its transaction commits (`publish_events`), so no
handler can forget it and nothing is announced for a change that was rolled back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from telemed.bus.base import ACCESS, CAREPLANS, CREDENTIALS, DEVICES, BusUnavailable, EventBus

log = logging.getLogger("telemed.bus")


async def careplan_changed(bus: EventBus, patient_id: str, plan_id: str | None = None,
                           version: int | None = None) -> None:
    await bus.publish(CAREPLANS, {"patient_id": patient_id, "plan_id": plan_id,
                                  "version": version})


async def device_changed(bus: EventBus, device_id: str, patient_id: str | None) -> None:
    await bus.publish(DEVICES, {"device_id": device_id, "patient_id": patient_id})


async def credentials_revoked(bus: EventBus, event: CredentialsRevoked) -> None:
    """Best effort: the revocation is already stored, and channels re-check it periodically."""
    try:
        await bus.publish(CREDENTIALS, {"user_id": event.user_id, "session_id": event.session_id,
                                        "except": event.except_session, "reason": event.reason})
    except BusUnavailable as exc:
        log.warning("could not announce ended sessions of user %s: %s", event.user_id, exc)


async def access_changed(bus: EventBus, patient_id: str) -> None:
    """Best effort: the change is already stored, and streams re-read it every minute anyway."""
    try:
        await bus.publish(ACCESS, {"patient_id": patient_id})
    except BusUnavailable as exc:
        log.warning("could not announce an access change of patient %s: %s", patient_id, exc)


@dataclass(frozen=True)
class AccessChanged:
    """Who may see the patient changed: registered, consent or delegates changed, a care
    team joined."""

    patient_id: str


@dataclass(frozen=True)
class CareplanChanged:
    """A plan was activated, edited (a new version) or completed: ingest workers reload it
    and republish the patient's devices' configuration."""

    patient_id: str
    plan_id: str
    version: int


@dataclass(frozen=True)
class DeviceChanged:
    """A device was registered, reassigned, revoked or given new credentials: ingest workers
    drop the cached device and republish its configuration."""

    device_id: str
    patient_id: str | None


@dataclass(frozen=True)
class CredentialsRevoked:
    """One session (`session_id`), or every session of the user but `except_session`, ended:
    the live channels they opened close (`reason` is said to them)."""

    user_id: str
    reason: str
    session_id: str | None = None
    except_session: str | None = None


class Announcement(Protocol):
    """An event a use case defines itself (an alert change): its channel and its body."""

    def announce(self) -> tuple[str, dict[str, Any]]: ...


ChangeEvent = AccessChanged | CareplanChanged | DeviceChanged | CredentialsRevoked | Announcement


async def publish_events(bus: EventBus, events: Iterable[ChangeEvent]) -> None:
    """Announce committed changes, each distinct event once, in the order recorded."""
    sent: list[ChangeEvent] = []
    for event in events:
        if event in sent:
            continue
        sent.append(event)
        if isinstance(event, AccessChanged):
            await access_changed(bus, event.patient_id)
        elif isinstance(event, CareplanChanged):
            await careplan_changed(bus, event.patient_id, event.plan_id, event.version)
        elif isinstance(event, DeviceChanged):
            await device_changed(bus, event.device_id, event.patient_id)
        elif isinstance(event, CredentialsRevoked):
            await credentials_revoked(bus, event)
        else:
            await bus.publish(*event.announce())
