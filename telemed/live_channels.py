"""Live channels (alert streams, signalling sockets) end with the credential that opened them.

Each channel is registered with the user and the session row (``telemed.services.sessions``)
of the cookie or token that opened it, and with that credential's expiry. It is ended:

- at the expiry, by a timer;
- at once when the session or the user's sessions are revoked: logging out, "log out
  everywhere", a password change (the user's other sessions) and an administrator
  deactivating the user publish ``credentials`` events on the bus (the services record a
  `telemed.bus.events.CredentialsRevoked`, published after the commit), which every process
  follows (so a channel on another process ends too);
- within ``CHECK_INTERVAL`` seconds in any case: the open session ids of this process's
  channels are read again from the database, in case an event was lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web

from telemed import keys
from telemed.bus import BusOverflow
from telemed.bus.base import CREDENTIALS
from telemed.principal import Principal
from telemed.services.sessions import open_session_ids
from telemed.tasks import cancel_and_wait

log = logging.getLogger("telemed.sessions")

CHECK_INTERVAL = 30.0


@dataclass(eq=False)
class Channel:
    """One open channel; `on_end(reason)` closes it (called at most once)."""

    user_id: str
    session_id: str
    on_end: Callable[[str], None]
    timer: asyncio.TimerHandle | None = None
    ended: str | None = None


@dataclass
class LiveChannels:
    """This process's open channels, by user."""

    by_user: dict[str, set[Channel]] = field(default_factory=dict)

    def open(self, who: Principal, on_end: Callable[[str], None]) -> Channel | None:
        """Register a channel opened by `who`; None when it has no session to follow."""
        if who.session_id is None:
            return None
        return self.open_for(who.user_id, who.session_id, who.expires_at, on_end)

    def open_for(self, user_id: str, session_id: str, expires_at: float | None,
                 on_end: Callable[[str], None]) -> Channel:
        channel = Channel(user_id, session_id, on_end)
        self.by_user.setdefault(user_id, set()).add(channel)
        if expires_at is not None:
            loop = asyncio.get_running_loop()
            delay = max(0.0, expires_at - time.time())
            channel.timer = loop.call_later(delay, self._end, channel, "expired")
        return channel

    def close(self, channel: Channel | None) -> None:
        """Forget a channel that ended by itself."""
        if channel is None:
            return
        if channel.timer is not None:
            channel.timer.cancel()
        channels = self.by_user.get(channel.user_id)
        if channels is not None:
            channels.discard(channel)
            if not channels:
                del self.by_user[channel.user_id]

    def _end(self, channel: Channel, reason: str) -> None:
        if channel.ended is not None:
            return
        channel.ended = reason
        self.close(channel)
        try:
            channel.on_end(reason)
        except Exception:
            log.exception("closing a channel of user %s failed", channel.user_id)

    def end(self, user_id: str, reason: str, session_id: str | None = None,
            except_session: str | None = None) -> int:
        """End the user's channels of `session_id` (all but `except_session` when None)."""
        ended = 0
        for channel in list(self.by_user.get(user_id, ())):
            if session_id is not None and channel.session_id != session_id:
                continue
            if session_id is None and channel.session_id == except_session:
                continue
            self._end(channel, reason)
            ended += 1
        return ended

    def session_ids(self) -> set[str]:
        return {c.session_id for channels in self.by_user.values() for c in channels}

    def keep_only(self, open_ids: set[str]) -> int:
        """End every channel whose session is not in `open_ids`."""
        stale = [c for channels in self.by_user.values() for c in channels
                 if c.session_id not in open_ids]
        for channel in stale:
            self._end(channel, "revoked")
        return len(stale)


LIVE_CHANNELS: web.AppKey[LiveChannels] = web.AppKey("live_channels")


def live_channels(app: web.Application) -> LiveChannels:
    return app[LIVE_CHANNELS]


def _apply(channels: LiveChannels, event: dict[str, object]) -> None:
    user_id, session_id = event.get("user_id"), event.get("session_id")
    except_session, reason = event.get("except"), event.get("reason")
    if not isinstance(user_id, str):
        return
    channels.end(user_id, reason if isinstance(reason, str) else "revoked",
                 session_id if isinstance(session_id, str) else None,
                 except_session if isinstance(except_session, str) else None)


async def check_now(app: web.Application) -> None:
    """End the channels whose session was revoked or expired, or whose user was deactivated."""
    channels = app[LIVE_CHANNELS]
    ids = channels.session_ids()
    if not ids:
        return
    async with app[keys.SESSIONS]() as session:
        still_open = await open_session_ids(session, ids)
    channels.keep_only(still_open | (channels.session_ids() - ids))


async def _follow_events(app: web.Application) -> None:
    bus = app[keys.BUS]
    while True:
        subscription = bus.subscribe(CREDENTIALS)
        try:
            async for event in subscription:
                _apply(app[LIVE_CHANNELS], event)
            return  # the bus is closing
        except BusOverflow:
            await _checked(app)
        finally:
            await subscription.close()


async def _checked(app: web.Application) -> None:
    try:
        await check_now(app)
    except Exception as exc:  # the database is down: keep the channels, try again later
        log.warning("could not re-check the sessions of open channels: %s", exc)


async def _check_periodically(app: web.Application) -> None:
    while True:
        await asyncio.sleep(CHECK_INTERVAL)
        await _checked(app)


async def _channels_ctx(app: web.Application) -> AsyncIterator[None]:
    tasks = [asyncio.ensure_future(_follow_events(app)),
             asyncio.ensure_future(_check_periodically(app))]
    yield
    await cancel_and_wait(tasks)


def setup_live_channels(app: web.Application) -> None:
    """The registry of live channels and the tasks that end them (after the bus is set up)."""
    app[LIVE_CHANNELS] = LiveChannels()
    app.cleanup_ctx.append(_channels_ctx)


class VisitRooms(Protocol):
    """The visit rooms this process holds (the signalling hub), as pages and the API see
    them: they may only remove a person whose access ended."""

    async def remove_user(self, visit_id: str, user_id: str) -> bool:
        """Disconnect a person from the visit's room when this process holds it."""
        ...


VISIT_ROOMS: web.AppKey[VisitRooms] = web.AppKey("visit_rooms")  # set by signalling.setup
