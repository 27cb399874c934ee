"""Use cases record events on their session; the commit publishes them, a rollback drops them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlmodel import SQLModel

from telemed.bus import ACCESS
from telemed.bus.events import AccessChanged
from telemed.bus.memory import InProcessBus
from telemed.db.engine import make_engine, make_session_factory
from telemed.db.events import record_event


async def _received(subscription: object, count: int) -> list[object]:
    found = []

    async def take() -> None:
        async for event in subscription:  # type: ignore[attr-defined]
            found.append(event)
            if len(found) == count:
                return
    await asyncio.wait_for(take(), 2)
    return found


async def test_commit_publishes_recorded_events_once_and_rollback_drops_them(
        tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'events.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.create_all)
    bus = InProcessBus()
    subscription = bus.subscribe(ACCESS)
    sessions = make_session_factory(engine, bus=lambda: bus)
    try:
        async with sessions() as session:
            record_event(session, AccessChanged("rolled-back"))
            await session.rollback()
            await session.commit()  # nothing left to announce
            record_event(session, AccessChanged("p1"))
            record_event(session, AccessChanged("p2"))
            record_event(session, AccessChanged("p1"))  # the same change once
            await session.commit()
        async with sessions() as session:
            record_event(session, AccessChanged("never-committed"))
        async with sessions() as session:
            record_event(session, AccessChanged("p3"))
            await session.commit()
        assert await _received(subscription, 3) == [
            {"patient_id": "p1"}, {"patient_id": "p2"}, {"patient_id": "p3"}]
        async with make_session_factory(engine)() as session:  # no bus: nothing to publish to
            record_event(session, AccessChanged("p4"))
            await session.commit()
        try:
            extra = await asyncio.wait_for(_received(subscription, 1), 0.2)
        except TimeoutError:
            extra = []
        assert extra == []
    finally:
        await subscription.close()
        await engine.dispose()
