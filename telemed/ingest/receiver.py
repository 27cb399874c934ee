"""The ingest worker's receiving process: its MQTT connection and SenML decoding.

`telemed.ingest.receiver_process` starts it as ``python -m telemed.ingest.receiver`` and
speaks frames with it on its standard input and output (`telemed.ingest.receiver_wire`).
It holds the worker's persistent MQTT session (`IngestMqttClient`), decodes each readings
pack as it arrives and hands the worker plain values, a frame for everything read in one
wakeup. It acknowledges a message only when the worker says its batch is committed, on the
connection that received it, and answers the device's errors topic then. So the worker's
event loop keeps the batch transactions, and MQTT and decoding run beside it on another
core.

When its standard input closes (the worker stopped or died) it disconnects and exits,
acknowledging nothing more: what was not settled is redelivered by the broker to the next
connection with this client id, and the unique reading key stores it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

from telemed.domain.senml import decode_pack
from telemed.heap import settle_heap
from telemed.ingest import receiver_wire as wire
from telemed.ingest.mqtt import BrokerAddress, IngestMqttClient
from telemed.logs import setup_logging

log = logging.getLogger("telemed.ingest.receiver")


class Receiver:
    """The receiving side: MQTT messages out as frames, settlements in."""

    def __init__(self, config: dict[str, Any], out: asyncio.WriteTransport) -> None:
        address = BrokerAddress(config["host"], config["port"], config["username"],
                                config["password"], config["tls"])
        self.client = IngestMqttClient(address, config["client_id"], self._on_message,
                                       shared=config["shared"])
        self.client.on_connection = self._on_connection
        self._out = out
        self._token = 0
        self._unsettled: dict[int, tuple[str, Callable[[], None]]] = {}
        self._messages: list[tuple[Any, ...]] = []
        self._flush_scheduled = False
        self._publishing: deque[tuple[list[tuple[str, str]], bool]] = deque()
        self._publisher: asyncio.Task[None] | None = None
        self._loop = asyncio.get_running_loop()

    def start(self) -> None:
        self.client.start()

    async def stop(self) -> None:
        if self._publisher is not None:
            self._publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._publisher
        await self.client.stop()

    # --- from the broker -------------------------------------------------------------

    def _on_message(self, device_id: str, leaf: str, payload: bytes, received_at: datetime,
                    settle: Callable[[], None]) -> None:
        if leaf == "readings":
            body: Any = wire.pack_body(decode_pack(payload, received_at))
        elif leaf == "status":
            body = payload
        else:
            settle()
            return
        self._token += 1
        self._unsettled[self._token] = (device_id, settle)
        self._messages.append((self._token, device_id, leaf, wire.micros(received_at), body))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        messages, self._messages = self._messages, []
        if messages:
            self._out.write(wire.frame("msgs", messages))

    def _on_connection(self, connected: bool) -> None:
        self._flush()  # what the old connection delivered goes first
        self._out.write(wire.frame("state", connected))

    # --- from the worker -------------------------------------------------------------

    def handle(self, items: wire.Frame) -> None:
        name = items[0]
        if name == "settle":
            for token, errors in items[1]:
                entry = self._unsettled.pop(token, None)
                if entry is None:
                    continue
                device_id, settle = entry
                settle()
                if errors:
                    self.client.answer(device_id, errors)
        elif name == "publish":
            self._publishing.append((items[1], bool(items[2])))
            if self._publisher is None or self._publisher.done():
                self._publisher = self._loop.create_task(self._publish(), name="publish")
        else:
            raise wire.WireError(f"unknown frame {name!r}")

    async def _publish(self) -> None:
        """Bulk publishes in the order the worker asked for them (a device's newer retained
        config is never overtaken by an older one)."""
        while self._publishing:
            messages, retain = self._publishing.popleft()
            try:
                await self.client.publish_paced(messages, retain=retain)
            except Exception:
                log.exception("publishing %d messages failed", len(messages))


async def read_frame(reader: asyncio.StreamReader) -> wire.Frame | None:
    """The next frame, or None at the end of the stream."""
    try:
        header = await reader.readexactly(wire.HEADER.size)
        return wire.parse(await reader.readexactly(wire.length(header)))
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise wire.WireError("the stream ended inside a frame") from exc
        return None


async def serve(reader: asyncio.StreamReader, out: asyncio.WriteTransport) -> None:
    """Run a receiver for the worker at the other end of ``reader`` and ``out``."""
    init = await read_frame(reader)
    if init is None:
        return
    if init[0] != "init":
        raise wire.WireError("the first frame must be init")
    config = init[1]
    setup_logging(config["log_level"], config["log_format"])
    receiver = Receiver(config, out)
    settle_heap()
    receiver.start()
    try:
        while (items := await read_frame(reader)) is not None and items[0] != "stop":
            receiver.handle(items)
    finally:
        await receiver.stop()


async def _main() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=wire.MAX_FRAME)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    # the frames go on the real standard output; print() and stray writes go to stderr
    out_file = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    out, _ = await loop.connect_write_pipe(asyncio.Protocol, out_file)
    try:
        await serve(reader, out)
    finally:
        out.close()


def main() -> None:
    # The worker stops it (a stop frame, or its standard input closing), after settling what
    # its batches committed: a Ctrl-C or a TERM sent to the whole process group must not end
    # it first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    asyncio.run(_main())


if __name__ == "__main__":
    main()
