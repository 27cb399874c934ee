"""Python peers of the signalling protocol: a typed WebSocket client and an aiortc mesh peer.

Browsers use web/static/visit/*.js. These Python peers serve the integration tests, the
benchmark (bench/signalling.py) and any robot participant. `MeshPeer` keeps the protocol's
politeness simple: towards each peer, the impolite side offers and the polite side answers
(aiortc has no rollback, so it never offers as the polite side). Candidates are sent both
inside the SDP (aiortc gathers before answering) and one by one as `{candidate}` signals.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
from collections.abc import Mapping
from typing import Any, TypeVar

import aiohttp
import av
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError
from aiortc.sdp import candidate_from_sdp

from telemed.signalling import messages as m

log = logging.getLogger("telemed.signalling.client")

T = TypeVar("T")


class SignallingClient:
    """One WebSocket to `/ws/visits/{id}` speaking typed messages."""

    def __init__(self, http: aiohttp.ClientSession, ws_url: str, token: str, *,
                 origin: str) -> None:
        self.http = http
        self.url = f"{ws_url}?token={token}"
        self.origin = origin
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.backlog: list[m.ServerMessage] = []

    async def connect(self) -> SignallingClient:
        self.ws = await self.http.ws_connect(self.url, headers={"Origin": self.origin},
                                             autoping=True, max_msg_size=1 << 20)
        return self

    async def send(self, message: m.ClientMessage) -> None:
        assert self.ws is not None
        await self.ws.send_str(m.dump(message))

    async def send_raw(self, text: str) -> None:
        assert self.ws is not None
        await self.ws.send_str(text)

    async def receive(self, within: float = 5.0) -> m.ServerMessage:
        """The next message (from the backlog first); ConnectionError when the socket closed."""
        if self.backlog:
            return self.backlog.pop(0)
        assert self.ws is not None
        frame = await self.ws.receive(timeout=within)
        if frame.type != aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"socket closed ({self.ws.close_code})")
        return m.parse_server(frame.data)

    async def expect(self, kind: type[T], within: float = 5.0) -> T:
        """The first message of `kind`; others received meanwhile stay in the backlog."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        skipped: list[m.ServerMessage] = []
        for index, message in enumerate(self.backlog):
            if isinstance(message, kind):
                del self.backlog[index]
                return message
        assert self.ws is not None
        try:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError(f"no {kind.__name__} within {within} s")
                frame = await self.ws.receive(timeout=remaining)
                if frame.type != aiohttp.WSMsgType.TEXT:
                    raise ConnectionError(f"socket closed ({self.ws.close_code})")
                message = m.parse_server(frame.data)
                if isinstance(message, kind):
                    return message
                skipped.append(message)
        finally:
            self.backlog.extend(skipped)

    async def close(self) -> None:
        if self.ws is not None and not self.ws.closed:
            await self.ws.close()

    @property
    def close_code(self) -> int | None:
        return self.ws.close_code if self.ws is not None else None


class SyntheticVideo(VideoStreamTrack):
    """A small moving test pattern (cheap to encode)."""

    def __init__(self, width: int = 160, height: int = 120) -> None:
        super().__init__()
        self.width, self.height = width, height
        self.counter = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame(width=self.width, height=self.height, format="yuv420p")
        shade = (self.counter * 7) % 256
        self.counter += 1
        for index, plane in enumerate(frame.planes):
            plane.update(bytes([shade if index == 0 else 128]) * plane.buffer_size)
        frame.pts = pts
        frame.time_base = time_base if time_base else fractions.Fraction(1, 90000)
        return frame


class _Link:
    """The connection to one remote peer."""

    def __init__(self, pc: RTCPeerConnection, polite: bool) -> None:
        self.pc = pc
        self.polite = polite
        self.frames: dict[str, int] = {"audio": 0, "video": 0}
        self.connected = asyncio.Event()


class MeshPeer:
    """An aiortc participant: one RTCPeerConnection per admitted peer, media both ways."""

    def __init__(self, client: SignallingClient, *, video: bool = True,
                 audio: bool = True) -> None:
        self.client = client
        self.send_video, self.send_audio = video, audio
        self.links: dict[str, _Link] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.ice_servers: tuple[m.IceServer, ...] = ()
        self.welcome: m.Welcome | None = None
        self.events: asyncio.Queue[m.ServerMessage] = asyncio.Queue(1000)

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def join(self, precall: m.Precall | None = None) -> m.Welcome:
        await self.client.send(m.Join(precall=precall))
        self.welcome = await self.client.expect(m.Welcome)
        self.ice_servers = self.welcome.ice_servers
        self._spawn(self._pump())
        for peer in self.welcome.participants:
            await self._meet(peer.peer_id, bool(peer.polite))
        return self.welcome

    def _pc(self) -> RTCPeerConnection:
        return RTCPeerConnection(RTCConfiguration(iceServers=[
            RTCIceServer(urls=list(s.urls), username=s.username, credential=s.credential)
            for s in self.ice_servers
        ]))

    async def _meet(self, peer_id: str, polite: bool) -> None:
        if peer_id in self.links:
            return
        pc = self._pc()
        link = self.links[peer_id] = _Link(pc, polite)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._spawn(self._consume(link, track))

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState == "connected":
                link.connected.set()

        if self.send_audio:
            pc.addTrack(AudioStreamTrack())
        if self.send_video:
            pc.addTrack(SyntheticVideo())
        if not polite:
            await pc.setLocalDescription(await pc.createOffer())
            await self._send_description(peer_id, pc)

    async def _send_description(self, peer_id: str, pc: RTCPeerConnection) -> None:
        desc = pc.localDescription
        await self.client.send(m.Signal(to=peer_id, data={"sdp": {"type": desc.type,
                                                                  "sdp": desc.sdp}}))
        for line in desc.sdp.splitlines():
            if line.startswith("a=candidate:"):
                await self.client.send(m.Signal(to=peer_id, data={"candidate": {
                    "candidate": line[2:], "sdpMid": "0", "sdpMLineIndex": 0}}))

    async def _consume(self, link: _Link, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                await track.recv()
                link.frames[track.kind] = link.frames.get(track.kind, 0) + 1

    async def _on_signal(self, sender: str, data: Mapping[str, Any]) -> None:
        link = self.links.get(sender)
        if link is None:
            return
        pc = link.pc
        description = data.get("sdp")
        if isinstance(description, Mapping):
            await pc.setRemoteDescription(RTCSessionDescription(sdp=description["sdp"],
                                                                type=description["type"]))
            if description["type"] == "offer":
                await pc.setLocalDescription(await pc.createAnswer())
                await self._send_description(sender, pc)
        candidate = data.get("candidate")
        if isinstance(candidate, Mapping) and pc.remoteDescription is not None:
            with contextlib.suppress(Exception):  # duplicates of candidates in the SDP
                parsed = candidate_from_sdp(str(candidate["candidate"]).split(":", 1)[1])
                parsed.sdpMid = pc.getTransceivers()[0].mid
                parsed.sdpMLineIndex = 0
                await pc.addIceCandidate(parsed)

    async def _pump(self) -> None:
        while True:
            try:
                message = await self.client.receive(within=3600)
            except (TimeoutError, ConnectionError, RuntimeError):
                return
            if isinstance(message, m.PeerJoined):
                await self._meet(message.peer.peer_id, message.polite)
            elif isinstance(message, m.Admitted):
                for peer in message.participants:
                    await self._meet(peer.peer_id, bool(peer.polite))
            elif isinstance(message, m.SignalFrom):
                try:
                    await self._on_signal(message.from_, message.data)
                except Exception:
                    log.exception("could not apply a signal")
            elif isinstance(message, m.PeerLeft):
                link = self.links.pop(message.peer_id, None)
                if link is not None:
                    await link.pc.close()
            with contextlib.suppress(asyncio.QueueFull):
                self.events.put_nowait(message)

    async def next_event(self, kind: type[T], within: float = 10.0) -> T:
        """The next pumped message of `kind` (others are dropped)."""
        async with asyncio.timeout(within):
            while True:
                message = await self.events.get()
                if isinstance(message, kind):
                    return message

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for link in self.links.values():
            await link.pc.close()
        self.links.clear()
        await self.client.close()
