"""GET /api/v1/alerts/stream: Server-Sent Events of alert changes for the caller's patients.

Each event is ``event: alert``, ``id: <Alert.seq>``, JSON data = the alert (docs/api.md,
"Alerts") with the patient's name, the kind of change and whether it should notify. A client that
reconnects with ``Last-Event-ID`` first gets every alert changed after that sequence number
(from the database, so it survives restarts), then live changes from the bus; without it,
every current non-resolved alert comes first (paged by sequence number, all of them). Comments
(``: ping``) keep the connection alive.

The stream costs what it sends, not what the population is: the response starts before
anything is read, the replay pages through the alerts with the access rules as a condition
(`telemed.services.scope.alerting`), and the caller's patients are never listed. Who may
see a live alert's patient is checked the first time that patient appears, and kept.

Audit: one row per patient (``read alert``, reason "alert stream") the first time an alert of
that patient is sent on this stream, in the same transaction as the read that found it; not
one per visible patient per connect.

The stream ends (after an ``event: session_ended`` with the reason) when the cookie's session
or the token that opened it ends: logout, "log out everywhere", a password change made
elsewhere, the user's deactivation, or its expiry (``telemed.live_channels``).

Access changes follow the bus: on an ``access`` or ``careplans`` event for patient P (a new
patient, a care team, a consent, a delegate) P alone is checked again; a patient who withdrew
consent drops out at once (except for the doctors who still receive the alerts of its
telemonitoring), a newly visible patient's current alerts are sent (``change: "replay"``).
A safety net every few minutes, in case such an event was lost, costs one query bounded by
the open alerts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp_sse import EventSourceResponse, sse_response
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed import keys
from telemed.api.common import request_id, sessions
from telemed.bus import ACCESS, ALERTS, CAREPLANS, BusOverflow, Subscription
from telemed.domain.audit_reasons import because
from telemed.errors import ApiError
from telemed.live_channels import live_channels
from telemed.principal import Principal, principal, requires
from telemed.services.alerts import (
    alert_out,
    alerting,
    alerting_patients_with_open_alerts,
    alerts_after,
    receiving,
)
from telemed.services.audit import record_reads
from telemed.tasks import cancel_and_wait

log = logging.getLogger("telemed.alert_stream")
routes = web.RouteTableDef()

PING_INTERVAL = 15.0
REFRESH_VISIBLE = 300.0  # seconds between safety-net checks without access events
REFRESH_DEBOUNCE = 0.2  # a burst of access events is checked in one query
REPLAY_PAGE = 500
REPLAY_FIRST_PAGE = 50  # the first events leave after 50 rows are read, not 500
SEP = "\r\n"  # between an event's lines (aiohttp_sse's default, given to the response)
SEND_TIMEOUT = 120.0  # seconds a write may wait on a stalled client (aiohttp_sse's default)
STREAMS: web.AppKey[dict[int, Subscription]] = web.AppKey("alert_streams")


def _last_event_id(request: web.Request) -> int | None:
    raw = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise ApiError(400, "invalid_last_event_id", "Last-Event-ID must be a whole number.")
    return int(raw)


@dataclass
class _Seen:
    """What one stream knows: patient id → whether the caller receives its alerts (checked
    once, then kept up to date by access events), and the patients already audited."""

    request: web.Request
    who: Principal
    known: dict[str, bool] = field(default_factory=dict)
    audited: set[str] = field(default_factory=set)

    async def audit(self, session: AsyncSession, patient_ids: set[str]) -> None:
        new = patient_ids - self.audited
        await record_reads(session, actor=self.who, resource="alert",
                           reads={(pid, None) for pid in new}, reason=because("alert_stream"),
                           request_id=request_id(self.request))
        self.audited |= new


def _event(seq: int, data: dict[str, Any]) -> str:
    """One ``event: alert`` as ``EventSourceResponse.send`` writes it (the stream is opened
    with the same line separator): ``id``, ``event``, a ``data`` line per line of the JSON."""
    body = json.dumps(data, ensure_ascii=False, default=str)
    return SEP.join([f"id: {seq}", "event: alert",
                     *(f"data: {line}" for line in EventSourceResponse.LINE_SEP_EXPR.split(body)),
                     "", ""])


async def _write(resp: EventSourceResponse, events: list[str]) -> None:
    """Events in one write (a replay page: one system call, not one per alert); a client
    that stalls past ``SEND_TIMEOUT`` ends the stream, as ``send`` does."""
    if not events:
        return
    try:
        async with asyncio.timeout(SEND_TIMEOUT):
            await resp.write("".join(events).encode("utf-8"))
    except (ConnectionResetError, TimeoutError):
        resp.stop_streaming()
        raise


async def _send(resp: EventSourceResponse, seq: int, data: dict[str, Any]) -> None:
    await _write(resp, [_event(seq, data)])


async def _replay(resp: EventSourceResponse, seen: _Seen, after: int, *, current: bool,
                  patient_ids: Sequence[str] | None = None) -> int:
    """Send every alert changed after ``after`` (``current``: every non-resolved one), page
    by page, each page in one write; return the last seq sent (``after`` when none). The
    first page is short, so the first events leave before the rest are read."""
    cursor = after
    limit = REPLAY_FIRST_PAGE
    while True:
        async with sessions(seen.request)() as session:
            rows = await alerts_after(session, seen.who, cursor, current=current,
                                      patient_ids=patient_ids, limit=limit)
            await seen.audit(session, {alert.patient_id for alert, _ in rows})
            await session.commit()
        events = []
        for alert, patient in rows:
            seen.known[patient.id] = True
            data = alert_out(alert, patient)
            data["change"] = "replay"
            events.append(_event(alert.seq, data))
            cursor = max(cursor, alert.seq)
        await _write(resp, events)
        if len(rows) < limit:
            return cursor
        limit = REPLAY_PAGE


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
    alerting(who)  # administrators receive no alerts: refused before the stream starts
    seen = _Seen(request, who)
    bus = request.app[keys.BUS]
    subscription = bus.subscribe(ALERTS)  # before the replay: nothing falls in between
    request.app[STREAMS][id(subscription)] = subscription
    try:
        # With Redis, the subscription is effective once the server confirmed it; a bus that
        # is down only delays live events (the replay and Last-Event-ID cover the gap).
        await subscription.ready(within=2.0)
        async with sse_response(request, ping_interval=PING_INTERVAL, sep=SEP,
                                send_timeout=SEND_TIMEOUT,
                                headers={"X-Accel-Buffering": "no"}) as resp:
            # A client that went away while an event was on its way: the stream just ends.
            with contextlib.suppress(ConnectionResetError):
                last = await _replay(resp, seen, after or 0, current=after is None)
                await _live(request, resp, subscription, seen, last, ended)
    finally:
        request.app[STREAMS].pop(id(subscription), None)
        await subscription.close()
    return resp


async def _recheck(seen: _Seen, patient_ids: set[str]) -> set[str]:
    """Check these patients again (one query); return those that became visible."""
    async with sessions(seen.request)() as session:
        now = await receiving(session, seen.who, sorted(patient_ids))
    fresh = {pid for pid in now if seen.known.get(pid) is not True}
    for pid in patient_ids:
        seen.known[pid] = pid in now
    return fresh


async def _safety_net(seen: _Seen) -> set[str]:
    """In case an access event was lost: the patients with open alerts the caller receives
    now (one query); those it was not following are returned (to replay), those it followed
    and no longer appear are forgotten (checked again when an alert of theirs comes)."""
    async with sessions(seen.request)() as session:
        now = await alerting_patients_with_open_alerts(session, seen.who)
    fresh = {pid for pid in now if seen.known.get(pid) is not True}
    for pid in [p for p, ok in seen.known.items() if ok and p not in now]:
        del seen.known[pid]
    for pid in fresh:
        seen.known[pid] = True
    return fresh


async def _follow_access(seen: _Seen, added: asyncio.Queue[set[str]]) -> None:
    """Follow ``access`` and ``careplans`` events off the event path: the patients they name
    are checked again (a burst in one query); newly visible ones are handed to the event loop
    through ``added`` (it replays them), those who left drop out at once."""
    bus = seen.request.app[keys.BUS]
    changes = [bus.subscribe(ACCESS), bus.subscribe(CAREPLANS)]
    pending: set[str] = set()
    poke = asyncio.Event()
    lost = False

    async def follow(subscription: Subscription) -> None:
        nonlocal lost
        try:
            async for event in subscription:
                patient_id = event.get("patient_id")
                if isinstance(patient_id, str):
                    pending.add(patient_id)
                else:
                    lost = True
                poke.set()
        except BusOverflow:  # a missed event: the safety net covers it
            lost = True
            poke.set()

    followers = [asyncio.ensure_future(follow(s)) for s in changes]
    try:
        while True:
            timed_out = False
            try:
                async with asyncio.timeout(REFRESH_VISIBLE):
                    await poke.wait()
                    await asyncio.sleep(REFRESH_DEBOUNCE)
            except TimeoutError:
                timed_out = True
            poke.clear()
            batch, pending = set(pending), set()
            try:
                fresh: set[str] = set()
                if timed_out or lost:
                    lost = False
                    fresh |= await _safety_net(seen)
                if batch:
                    fresh |= await _recheck(seen, batch)
            except Exception:  # the database is down: check these again at the next event
                pending |= batch
                lost = True
                continue
            if fresh:
                await added.put(fresh)
    finally:
        await cancel_and_wait(followers)
        for subscription in changes:
            await subscription.close()


async def _receives(seen: _Seen, patient_id: str) -> bool:
    """Whether the caller receives this patient's alerts (checked once, then kept)."""
    if patient_id not in seen.known:
        async with sessions(seen.request)() as session:
            found = await receiving(session, seen.who, [patient_id])
        seen.known[patient_id] = patient_id in found
    return seen.known[patient_id]


async def _audited(seen: _Seen, patient_id: str) -> None:
    if patient_id not in seen.audited:
        async with sessions(seen.request)() as session:
            await seen.audit(session, {patient_id})
            await session.commit()


async def _live(request: web.Request, resp: EventSourceResponse, subscription: Subscription,
                seen: _Seen, last: int, ended: asyncio.Future[str]) -> None:
    closed = asyncio.ensure_future(resp.wait())
    added: asyncio.Queue[set[str]] = asyncio.Queue()
    refresher = asyncio.ensure_future(_follow_access(seen, added))
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
                # Their alerts open right now.
                await _replay(resp, seen, 0, current=True, patient_ids=sorted(new))
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
                last = await _replay(resp, seen, last, current=False)
                continue
            seq = event.get("seq")
            alert = event.get("alert")
            patient_id = event.get("patient_id")
            if (not isinstance(seq, int) or seq <= last or not isinstance(alert, dict)
                    or not isinstance(patient_id, str)):
                continue
            try:
                if not await _receives(seen, patient_id):
                    continue
                await _audited(seen, patient_id)
            except Exception:  # the database is down: end; the client resumes from `last`
                log.warning("alert stream ended: could not check access", exc_info=True)
                return
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
