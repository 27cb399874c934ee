"""Services record device and credential events on their session: the commit publishes them,
a rolled-back change publishes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlmodel import SQLModel

from telemed.bus import DEVICES
from telemed.bus.base import CREDENTIALS, Event, Subscription
from telemed.bus.memory import InProcessBus
from telemed.db.engine import SessionFactory, make_engine, make_session_factory
from telemed.db.models import Device, DeviceAssignment, Patient, User, UserSession
from telemed.db.types import utcnow
from telemed.identity.sessions import handle_of, revoke_my_session
from telemed.services.devices import reassign_device
from telemed.services.sessions import revoke_session, revoke_user_sessions


@dataclass
class Scene:
    sessions: SessionFactory
    bus: InProcessBus


async def _next(subscription: Subscription, seconds: float = 2) -> Event:
    return await asyncio.wait_for(anext(aiter(subscription)), seconds)


@asynccontextmanager
async def _listening(scene: Scene, channel: str) -> AsyncIterator[Subscription]:
    subscription = scene.bus.subscribe(channel)
    try:
        yield subscription
    finally:
        await subscription.close()


async def _nothing(subscription: Subscription) -> None:
    with pytest.raises(TimeoutError):
        await _next(subscription, 0.2)


@pytest.fixture
async def scene(tmp_path: Path) -> AsyncIterator[Scene]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'events.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.create_all)
    bus = InProcessBus()
    sessions = make_session_factory(engine, bus=lambda: bus)
    async with sessions() as session:
        for pid, code in (("pa", "RSSMRA50A01H501U"), ("pb", "VRDLGU60B02H501X")):
            session.add(Patient(id=pid, fiscal_code=code, given_name="A", family_name="B",
                                birth_date=date(1950, 1, 1), sex="M"))
        session.add(User(id="u1", username="anna", password_hash="x", role="doctor",
                         display_name="Anna"))
        await session.flush()
        for sid in ("s1", "s2"):
            session.add(UserSession(id=sid, user_id="u1", kind="bearer",
                                    expires_at=utcnow() + timedelta(hours=1)))
        session.add(Device(id="d1", serial="SN-1", kind="scale", patient_id="pa"))
        await session.flush()
        session.add(DeviceAssignment(device_id="d1", patient_id="pa",
                                     valid_from=utcnow() - timedelta(days=1)))
        await session.commit()
    try:
        yield Scene(sessions, bus)
    finally:
        await engine.dispose()


async def test_a_rolled_back_revocation_publishes_nothing(scene: Scene) -> None:
    async with _listening(scene, CREDENTIALS) as subscription:
        async with scene.sessions() as session:
            await revoke_user_sessions(session, "u1", "deactivated", keep="s2")
            await session.rollback()
        await _nothing(subscription)
        async with scene.sessions() as session:
            assert await revoke_session(session, "s1", "logout") == "u1"  # still open: revoked
        assert await _next(subscription) == {"user_id": "u1", "session_id": "s1",
                                             "except": None, "reason": "logout"}
        async with scene.sessions() as session:
            await revoke_user_sessions(session, "u1", "password_changed", keep="s2")
            await session.commit()
        assert await _next(subscription) == {"user_id": "u1", "session_id": None,
                                             "except": "s2", "reason": "password_changed"}


async def test_a_device_given_to_another_patient_is_announced_after_the_commit(
        scene: Scene) -> None:
    async with _listening(scene, DEVICES) as subscription:
        async with scene.sessions() as session:  # the operator (who=None) at the command line
            moved = await reassign_device(session, None, "d1", "pb")
        assert moved.patient_id == "pb"
        assert await _next(subscription) == {"device_id": "d1", "patient_id": "pb"}
        async with scene.sessions() as session:  # no change: nothing to announce
            await reassign_device(session, None, "d1", "pb")
        await _nothing(subscription)


async def test_ending_ones_own_session_by_handle_is_announced_and_a_bad_handle_ends_none(
        scene: Scene) -> None:
    async with _listening(scene, CREDENTIALS) as subscription:
        async with scene.sessions() as session:
            assert await revoke_my_session(session, "u1", "sessionè") is None  # not a 500
            assert await revoke_my_session(session, "u1", handle_of("s1")) == "s1"
        assert await _next(subscription) == {"user_id": "u1", "session_id": "s1",
                                             "except": None, "reason": "revoked_by_user"}
        await _nothing(subscription)
