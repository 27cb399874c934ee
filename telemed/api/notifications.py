"""/api/v1/notifications: the caller's notification centre, its live stream, and the
administrators' view of deliveries that did not arrive (docs/notifications.md)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web
from aiohttp_sse import EventSourceResponse, sse_response

from telemed import keys
from telemed.api.common import call, ok, request_id, sessions
from telemed.bus import BusOverflow, Subscription
from telemed.i18n import negotiate
from telemed.live_channels import live_channels
from telemed.notify import outbox
from telemed.notify.messages import language_for
from telemed.notify.setup import STREAMS
from telemed.notify.worker import NOTIFICATIONS
from telemed.principal import CLINICIANS, ROLES, principal, requires
from telemed.services import alarm_burden
from telemed.services.pagination import encode_cursor, parse_page
from telemed.services.users import get_user
from telemed.tasks import cancel_and_wait

routes = web.RouteTableDef()

PING_INTERVAL = 15.0


async def _language(request: web.Request, user_id: str) -> str:
    settings = request.app[keys.SETTINGS]
    async with sessions(request)() as session:
        user = await get_user(session, user_id)
    fallback = negotiate(request.headers.get("Accept-Language", ""), settings.language)
    return language_for(user.language, fallback)


@routes.get("/api/v1/notifications")
@requires(*ROLES)
async def notifications_list(request: web.Request) -> web.Response:
    who = principal(request)
    page = parse_page(request.query, key_length=2)
    unread_only = request.query.get("unread", "").lower() in ("1", "true")
    lang = await _language(request, who.user_id)
    async with sessions(request)() as session:
        items = await outbox.list_for(session, who.user_id, page, unread_only)
        unread = await outbox.unread_count(session, who.user_id)
    cursor = (encode_cursor([items[-1].created_at.isoformat(), items[-1].id])
              if len(items) == page.limit else None)
    return ok({"items": [outbox.notification_out(n, lang) for n in items],
               "next_cursor": cursor, "unread": unread})


@routes.post("/api/v1/notifications/read-all")
@requires(*ROLES)
async def notifications_read_all(request: web.Request) -> web.Response:
    who = principal(request)
    async with sessions(request)() as session:
        await outbox.mark_all_read(session, who.user_id)
    return ok({"unread": 0})


@routes.post("/api/v1/notifications/{notification_id}/read")
@requires(*ROLES)
async def notifications_read(request: web.Request) -> web.Response:
    who = principal(request)
    lang = await _language(request, who.user_id)
    async with sessions(request)() as session:
        n = await outbox.mark_read(session, who.user_id, request.match_info["notification_id"])
    return ok(outbox.notification_out(n, lang))


@routes.get("/api/v1/notifications/stream")
@requires(*ROLES)
async def notifications_stream(request: web.Request) -> web.StreamResponse:
    """``event: notification`` for each new notification of the caller (data: the notification
    and the unread count); ``event: unread`` once at the start."""
    who = principal(request)
    async with sessions(request)() as session:
        unread = await outbox.unread_count(session, who.user_id)
    ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def end(reason: str) -> None:
        if not ended.done():
            ended.set_result(reason)

    # The stream ends with the credential that opened it (telemed.live_channels).
    channel = live_channels(request.app).open(who, end)
    subscription = request.app[keys.BUS].subscribe(NOTIFICATIONS)
    request.app[STREAMS][id(subscription)] = subscription
    try:
        await subscription.ready(within=2.0)
        async with sse_response(request, ping_interval=PING_INTERVAL,
                                headers={"X-Accel-Buffering": "no"}) as resp:
            await resp.send(json.dumps({"unread": unread}), event="unread")
            await _follow(resp, subscription, who.user_id, ended)
    finally:
        live_channels(request.app).close(channel)
        ended.cancel()
        request.app[STREAMS].pop(id(subscription), None)
        await subscription.close()
    return resp


async def _follow(resp: EventSourceResponse, subscription: Subscription, user_id: str,
                  ended: asyncio.Future[str]) -> None:
    """Forward the user's notification events until the client leaves, the credential that
    opened the stream ends (``event: session_ended``) or the bus ends."""
    closed: asyncio.Future[Any] = asyncio.ensure_future(resp.wait())
    following: asyncio.Future[Any] | None = None
    try:
        while True:
            following = asyncio.ensure_future(subscription.__anext__())
            done, _ = await asyncio.wait({following, closed, ended},
                                         return_when=asyncio.FIRST_COMPLETED)
            if ended in done:
                await resp.send(json.dumps({"reason": ended.result()}), event="session_ended")
                return
            if following not in done:
                return  # the client left
            try:
                event = following.result()
            except (StopAsyncIteration, BusOverflow):
                return  # shutting down, or fell behind: the client reconnects
            finally:
                following = None
            if event.get("user_id") != user_id:
                continue
            await resp.send(json.dumps({"unread": event.get("unread"),
                                        "notification": event.get("notification")},
                                       ensure_ascii=False), event="notification")
    finally:
        await cancel_and_wait((closed, following),
                              also_suppress=(StopAsyncIteration, BusOverflow))


@routes.get("/api/v1/alerts/{alert_id}/notifications")
@requires("doctor", "nurse")
async def alert_notifications(request: web.Request) -> web.Response:
    """Who was notified of an alert, when, by which channel, and whether it arrived."""
    who = principal(request)
    async with sessions(request)() as session:
        sent = await outbox.alert_notifications(session, who, request.match_info["alert_id"],
                                                request_id(request))
    return ok({"items": [s.out() for s in sent]})


@routes.get("/api/v1/notifications/failed")
@requires("admin")
async def notifications_failed(request: web.Request) -> web.Response:
    page = parse_page(request.query, key_length=2)
    async with sessions(request)() as session:
        failed = await outbox.failed_deliveries(session, page)
    cursor = (encode_cursor([failed[-1].created_at.isoformat(), failed[-1].id])
              if len(failed) == page.limit else None)
    return ok({"items": [f.out() for f in failed], "next_cursor": cursor})


@routes.post("/api/v1/notifications/deliveries/{delivery_id}/retry")
@requires("admin")
async def notifications_retry(request: web.Request) -> web.Response:
    async with sessions(request)() as session:
        await outbox.retry_delivery(session, request.match_info["delivery_id"])
    return ok({"status": "pending"})


@routes.get("/api/v1/alarm-burden")
@requires(*CLINICIANS)
async def alarm_burden_get(request: web.Request) -> web.Response:
    """The alarm burden of the caller's care team and of each of its patients
    (``?days=`` 1–92, default 7; docs/notifications.md, "Alarm burden")."""
    days = alarm_burden.check_days(request.query.get("days"))
    burden = await call(request, alarm_burden.team_burden, days=days,
                        request_id=request_id(request))
    return ok(burden.out())
