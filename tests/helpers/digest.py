"""Daily digest test helpers: a person who chose the digest, routine news for them, workers
on a clock the test moves (days in the future, so a notification read now was read
before)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestClient
from sqlmodel import col, select

from telemed import keys
from telemed.db.models import Notification, NotificationDigest
from telemed.notify import outbox
from telemed.notify.setup import NOTIFIER
from telemed.notify.worker import Channels, DeliveryWorker
from tests.conftest import World

ROME = ZoneInfo("Europe/Rome")
TITLES = {"teleconsult_update": "teleconsult_accepted"}  # kinds titled by their move
# Two routine kinds chosen for the summary.
ROUTINE = {"teleconsult_request": "digest", "document_cosign": "digest"}


def rome(day: int, hour: int, minute: int = 0) -> datetime:
    """``hour:minute`` in Rome, ``day`` days from today (UTC)."""
    base = (datetime.now(UTC) + timedelta(days=day)).astimezone(ROME).date()
    return datetime.combine(base, time(hour, minute), tzinfo=ROME).astimezone(UTC)


def clocked(world: World) -> tuple[DeliveryWorker, DeliveryWorker, list[datetime]]:
    """The app's worker and a second one on the same database, both on the test's clock
    (``now[0]``, from 09:00 in two days)."""
    now = [rome(2, 9)]
    first = world.app[NOTIFIER]
    second = DeliveryWorker(world.app[keys.SESSIONS], None,
                            Channels.from_settings(world.app[keys.SETTINGS]))
    for worker in (first, second):
        worker.clock = lambda: now[0]
    return first, second, now


async def person(client: TestClient[Any, Any], world: World, role: str, address: str,
                 **changes: Any) -> dict[str, Any]:
    """A new user with ``address``, their choices changed through PATCH /users/me."""
    user = await world.user(role)
    headers = await world.token(user["username"])
    resp = await client.patch("/api/v1/users/me", headers=headers,
                              json={"email": address, **changes})
    assert resp.status == 200, await resp.text()
    return {**user, "h": headers, "address": address}


async def news(world: World, user_id: str, kind: str, cause: str, at: datetime,
               initials: str = "M. R.") -> str:
    """A notification of ``kind`` for ``user_id`` recorded at ``at``; its id."""
    async with world.app[keys.SESSIONS]() as session:
        [n] = await outbox.record(session, user_ids=[user_id], kind=kind,
                                  params={"initials": initials}, link=f"/teleconsults/{cause}",
                                  cause_type="teleconsult", cause_id=cause, now=at,
                                  title_code=TITLES.get(kind))
        await session.commit()
        return n.id


async def digests_of(world: World, user_id: str) -> list[NotificationDigest]:
    async with world.app[keys.SESSIONS]() as session:
        return list((await session.exec(
            select(NotificationDigest).where(NotificationDigest.user_id == user_id)
            .order_by(col(NotificationDigest.due_at)))).all())


async def held_of(world: World, user_id: str) -> list[Notification]:
    """The user's notifications whose email waits for a digest not made yet."""
    async with world.app[keys.SESSIONS]() as session:
        return list((await session.exec(
            select(Notification).where(Notification.user_id == user_id)
            .where(col(Notification.held_at).is_not(None))
            .where(col(Notification.digest_id).is_(None)))).all())
