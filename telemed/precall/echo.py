"""The pre-call echo peer: a server-side aiortc peer that sends the caller's media back.

A patient checks camera, microphone and network before a visit: the browser offers, this
peer answers, returns every received audio and video track as it is (the received track is
added straight back, so each frame is decoded once and re-encoded once) and answers
data-channel messages "ping" (or "ping <token>") with "pong" (or "pong <token>"), from
which the browser measures the round-trip time.

Bounded: at most `limit` peers at once (one per user: a new test closes the user's previous
one), each closed after `max_seconds` or as soon as its connection fails or closes; the
owner (see `setup.py`) runs `reap` every second and `close_all` on shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiohttp import web
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)

from telemed.domain.visit_wire import IceServer

log = logging.getLogger("telemed.precall")

DEFAULT_LIMIT = 4
DEFAULT_SECONDS = 60.0
MAX_SDP = 64 * 1024


class EchoBusy(Exception):
    """Every echo slot is taken; try again shortly."""


class BadOffer(Exception):
    """The offer could not be answered."""


@dataclass
class _Slot:
    owner: str
    deadline: float


def _answer_pings(channel: RTCDataChannel) -> None:
    @channel.on("message")
    def on_message(message: object) -> None:
        if isinstance(message, str) and (message == "ping" or message.startswith("ping ")):
            channel.send("pong" + message[4:])


class EchoPeers:
    """The live echo peers of this process."""

    def __init__(
        self,
        *,
        limit: int = DEFAULT_LIMIT,
        max_seconds: float = DEFAULT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.max_seconds = max_seconds
        self.clock = clock
        self.peers: dict[RTCPeerConnection, _Slot] = {}

    async def answer(
        self, owner: str, sdp: str, kind: str, ice_servers: Sequence[IceServer] = ()
    ) -> RTCSessionDescription:
        """Answer an offer with an echoing peer; EchoBusy or BadOffer otherwise."""
        if kind != "offer" or not sdp or len(sdp) > MAX_SDP:
            raise BadOffer("expected an SDP offer")
        for pc, slot in list(self.peers.items()):
            if slot.owner == owner:
                await self._close(pc)
        if len(self.peers) >= self.limit:
            raise EchoBusy()
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[
            RTCIceServer(urls=list(s.urls), username=s.username, credential=s.credential)
            for s in ice_servers
        ]))
        self.peers[pc] = _Slot(owner, self.clock() + self.max_seconds)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            pc.addTrack(track)

        @pc.on("datachannel")
        def on_datachannel(channel: RTCDataChannel) -> None:
            _answer_pings(channel)

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:  # aiortc raises many kinds on a bad SDP
            await self._close(pc)
            raise BadOffer(str(exc)[:200] or "the offer could not be answered") from None
        answer: RTCSessionDescription = pc.localDescription
        return answer

    async def _close(self, pc: RTCPeerConnection) -> None:
        self.peers.pop(pc, None)
        try:
            await pc.close()
        except Exception:
            log.exception("closing an echo peer failed")

    async def reap(self) -> None:
        """Close the peers past their time and those whose connection failed or closed."""
        now = self.clock()
        for pc, slot in list(self.peers.items()):
            if now >= slot.deadline or pc.connectionState in ("failed", "closed"):
                await self._close(pc)

    async def close_all(self) -> None:
        await asyncio.gather(*(self._close(pc) for pc in list(self.peers)),
                             return_exceptions=True)


ECHO: web.AppKey[EchoPeers] = web.AppKey("precall")  # set by telemed.precall.setup
