"""GET /api/v1/alerts/stream: Server-Sent Events of alert changes for the caller's patients.

Each event is ``event: alert``, ``id: <Alert.seq>``, JSON data = the alert (CONTRACT §2) with
the patient's name, the kind of change and whether it should notify. A client that
reconnects with ``Last-Event-ID`` first gets every alert changed after that sequence number
(from the database, so it survives restarts), then live changes from the bus; without it,
the current non-resolved alerts come first. Comments (``: ping``) keep the connection alive.

The stream ends (after an ``event: session_ended`` with the reason) when the cookie's session
or the token that opened it ends: logout, "log out everywhere", a password change made
elsewhere, the user's deactivation, or its expiry (``telemed.live_channels``).

Who the caller may see is read again as soon as a patient's access changes (``access`` and
``careplans`` bus events: a new patient, a care team, a consent, a delegate), and every minute
in case such an event was lost. A patient who withdrew consent drops out of the stream at
once (except for the doctors who still receive the alerts of its telemonitoring:
``services.access.alert_patient_ids``); a newly visible patient's current alerts are sent
(``change: "replay"``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiohttp import web
from aiohttp_sse import EventSourceResponse, sse_response

from telemed import keys
from telemed.api.common import request_id, sessions
from telemed.bus import ACCESS, ALERTS, CAREPLANS, BusOverflow, Subscription
from telemed.errors import ApiError, forbidden
from telemed.live_channels import live_channels
from telemed.principal import Principal, principal, requires
from telemed.services import audit
from telemed.services.access import alert_patient_ids
from telemed.services.alerts import alert_out, alerts_after
from telemed.tasks import cancel_and_wait

routes = web.RouteTableDef()

PING_INTERVAL = 15.0
REFRESH_VISIBLE = 60.0  # seconds between re-reads of the caller's patients without events
REFRESH_DEBOUNCE = 0.2  # a burst of access events causes one re-read
REPLAY_PAGE = 500
STREAMS: web.AppKey[dict[int, Subscription]] = web.AppKey("alert_streams")


def _last_event_id(request: web.Request) -> int | None:
    raw = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise ApiError(400, "invalid_last_event_id", "Last-Event-ID must be a whole number.")
    return int(raw)


async def _visible(request: web.Request, who: Principal) -> set[str]:
    async with sessions(request)() as session:
        visible = await alert_patient_ids(session, who)
    if visible is None:
        raise forbidden("Alerts are clinical data.")
    return set(visible)


async def _send(resp: EventSourceResponse, seq: int, data: dict[str, Any]) -> None:
    await resp.send(json.dumps(data, ensure_ascii=False, default=str), id=str(seq),
                    event="alert")


async def _replay(request: web.Request, resp: EventSourceResponse, visible: set[str],
                  after: int | None) -> int:
    """Send alerts changed after ``after`` (or the current ones); return the last seq sent."""
    last = after or 0
    cursor = after
    while True:
        async with sessions(request)() as session:
            rows = await alerts_after(session, sorted(visible), cursor, REPLAY_PAGE)
        for alert, patient in rows:
            data = alert_out(alert, patient)
            data["change"] = "replay"
            await _send(resp, alert.seq, data)
            last = max(last, alert.seq)
        if len(rows) < REPLAY_PAGE or cursor is None:
            return last
        cursor = last


@routes.get("/api/v1/alerts/stream")
@requires("doctor", "nurse", "patient")
async def alerts_stream(request: web.Request) -> web.StreamResponse:
    who = principal(request)
    ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def end(reason: str) -> None:
        if not ended.done():
            ended.set_result(reason)

    channel = live_channels(request.app).open(who, end)
    try:
        return await _stream(request, who, ended)
    finally:
        live_channels(request.app).close(channel)
        ended.cancel()


async def _stream(request: web.Request, who: Principal,
                  ended: asyncio.Future[str]) -> web.StreamResponse:
    after = _last_event_id(request)
    visible = await _visible(request, who)
    async with sessions(request)() as session:
        for patient_id in sorted(visible):
            audit.record(session, actor=who, action="read", resource="alert",
                         patient_id=patient_id, reason="alert stream",
                         request_id=request_id(request))
        await session.commit()
    bus = request.app[keys.BUS]
    subscription = bus.subscribe(ALERTS)  # before the replay: nothing falls in between
    request.app[STREAMS][id(subscription)] = subscription
    try:
        # With Redis, the subscription is effective once the server confirmed it; a bus that
        # is down only delays live events (the replay and Last-Event-ID cover the gap).
        await subscription.ready(within=2.0)
        async with sse_response(request, ping_interval=PING_INTERVAL,
                                headers={"X-Accel-Buffering": "no"}) as resp:
            last = await _replay(request, resp, visible, after)
            await _live(request, resp, subscription, visible, last, who, ended)
    finally:
        request.app[STREAMS].pop(id(subscription), None)
        await subscription.close()
    return resp


async def _refresh_visible(request: web.Request, who: Principal, visible: set[str],
                           added: asyncio.Queue[set[str]]) -> None:
    """Keep ``visible`` up to date off the event path: patients who left it drop out at once;
    newly visible ones are handed to the event loop through ``added`` (it replays them)."""
    bus = request.app[keys.BUS]
    changes = [bus.subscribe(ACCESS), bus.subscribe(CAREPLANS)]
    poke = asyncio.Event()

    async def follow(subscription: Subscription) -> None:
        with contextlib.suppress(BusOverflow):  # a missed event: the periodic read covers it
            async for _ in subscription:
                poke.set()

    followers = [asyncio.ensure_future(follow(s)) for s in changes]
    try:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(REFRESH_VISIBLE):
                    await poke.wait()
                    await asyncio.sleep(REFRESH_DEBOUNCE)
            poke.clear()
            try:
                fresh = await _visible(request, who)
            except ApiError:
                fresh = set()
            except Exception:  # the database is down: keep what we have, try again later
                continue
            new = fresh - visible
            visible.intersection_update(fresh)
            if new:
                await added.put(new)
    finally:
        await cancel_and_wait(followers)
        for subscription in changes:
            await subscription.close()


async def _live(request: web.Request, resp: EventSourceResponse, subscription: Subscription,
                visible: set[str], last: int, who: Principal,
                ended: asyncio.Future[str]) -> None:
    closed = asyncio.ensure_future(resp.wait())
    added: asyncio.Queue[set[str]] = asyncio.Queue()
    refresher = asyncio.ensure_future(_refresh_visible(request, who, visible, added))
    arrival: asyncio.Future[set[str]] = asyncio.ensure_future(added.get())
    following: asyncio.Future[Any] | None = None
    try:
        while True:
            if following is None:
                following = asyncio.ensure_future(subscription.__anext__())
            done, _ = await asyncio.wait({following, closed, arrival, ended},
                                         return_when=asyncio.FIRST_COMPLETED)
            if closed in done:
                return
            if ended in done:  # the credential that opened the stream ended
                await resp.send(json.dumps({"reason": ended.result()}), event="session_ended")
                return
            if arrival in done:
                new = arrival.result()
                arrival = asyncio.ensure_future(added.get())
                await _replay(request, resp, new, None)  # their alerts open right now
                visible.update(new)
                if following not in done:
                    continue
            event_future, following = following, None
            try:
                event = event_future.result()
            except StopAsyncIteration:
                return  # shutting down
            except BusOverflow:
                # We fell behind: the database has every change; resubscribe and replay.
                request.app[STREAMS].pop(id(subscription), None)
                subscription = request.app[keys.BUS].subscribe(ALERTS)
                request.app[STREAMS][id(subscription)] = subscription
                last = await _replay(request, resp, visible, last)
                continue
            seq = event.get("seq")
            alert = event.get("alert")
            if (not isinstance(seq, int) or seq <= last or not isinstance(alert, dict)
                    or event.get("patient_id") not in visible):
                continue
            data = dict(alert)
            data["change"] = event.get("change")
            data["notify"] = event.get("notify", False)
            await _send(resp, seq, data)
            last = seq
    finally:
        await cancel_and_wait((closed, refresher, arrival, following),
                              also_suppress=(StopAsyncIteration, BusOverflow))
        request.app[STREAMS].pop(id(subscription), None)
        await subscription.close()


async def _close_streams(app: web.Application) -> None:
    for subscription in list(app[STREAMS].values()):
        await subscription.close()


def setup_alert_stream(app: web.Application) -> None:
    """The SSE route, and closing every stream cleanly when the server shuts down."""
    streams: dict[int, Subscription] = {}
    app[STREAMS] = streams
    app.router.add_routes(routes)
    app.on_shutdown.append(_close_streams)
