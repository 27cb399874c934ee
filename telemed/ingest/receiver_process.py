"""The worker's side of its receiving process (`telemed.ingest.receiver`).

`ReceiverProcess` starts ``python -m telemed.ingest.receiver`` with this interpreter, gives
it the broker address and the worker's client id on its standard input, and turns the frames
it sends back into the pipeline's envelopes: readings already decoded, status messages as
they came. When a batch is committed, each of its messages is settled back (acknowledge,
and the refusals to answer on the device's errors topic), a frame per turn of the loop.

A receiver that dies is started again (backing off): the messages it had handed over are
still written, but their settlements are dropped, as an MQTT client's are after a reconnect
(the broker redelivers them to the new connection and the unique reading key stores them
once). Stopping sends ``stop`` after every settlement already due; closing its standard
input is enough too: the receiver disconnects and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import sys
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import telemed
from telemed.domain.senml import DecodedPack
from telemed.ingest import receiver_wire as wire
from telemed.ingest.envelope import Outcome
from telemed.ingest.mqtt import BACKOFF, BrokerAddress
from telemed.logs import JsonFormatter
from telemed.tasks import wait_set

log = logging.getLogger("telemed.ingest.receiver")

# where this `telemed` package is imported from: the receiver imports the same code
_ROOT = str(Path(telemed.__file__).resolve().parent.parent)
STOP_TIMEOUT = 5.0  # seconds a stopping receiver gets to disconnect before it is killed
SubmitDecoded = Callable[[str, DecodedPack, datetime, Callable[[Outcome], None]], None]
SubmitStatus = Callable[[str, bytes, datetime, Callable[[Outcome], None]], None]


def _log_format() -> str:
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return "json"
    return "text"


class ReceiverProcess:
    """The MQTT connection and decoding of this worker, in a child process."""

    def __init__(self, address: BrokerAddress, client_id: str, shared: bool,
                 submit_decoded: SubmitDecoded, submit_status: SubmitStatus) -> None:
        self._config: dict[str, Any] = {
            "host": address.host, "port": address.port, "username": address.username,
            "password": address.password, "tls": address.tls, "client_id": client_id,
            "shared": shared}
        self._submit_decoded = submit_decoded
        self._submit_status = submit_status
        self._loop = asyncio.get_running_loop()
        self._proc: asyncio.subprocess.Process | None = None
        self._generation = 0
        self._settlements: list[tuple[int, list[dict[str, object]] | None]] = []
        self._flush_scheduled = False
        self._connected = asyncio.Event()
        self._stopping = False
        self._supervisor: asyncio.Task[None] | None = None
        self.first_connected_at: float | None = None
        self.starts = 0  # receivers started (more than one: one died and was replaced)
        # called when a receiver replaces one that died (what it had still to publish is lost)
        self.on_replaced: Callable[[], None] | None = None

    # --- MqttIntake ------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        self._supervisor = self._loop.create_task(self._supervise(), name="ingest-receiver")

    async def wait_connected(self, seconds: float) -> bool:
        return await wait_set(self._connected, seconds)

    async def publish_paced(self, messages: Iterable[tuple[str, str]], *,
                            retain: bool = False) -> int:
        """Hand the messages to the receiver, which publishes them a window at a time, in
        the order asked (a receiver started later gets them only if asked again: the
        worker republishes every config when its receiver connects)."""
        batch = list(messages)
        if batch:
            self._send("publish", batch, retain)
        return len(batch)

    async def stop(self) -> None:
        self._stopping = True
        proc = self._proc
        if proc is not None and proc.returncode is None:
            self._flush()
            self._send("stop")
            with contextlib.suppress(OSError):
                if proc.stdin is not None:
                    proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
            except TimeoutError:
                log.warning("the ingest receiver did not stop; killing it")
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        self._connected.clear()

    # --- the child -------------------------------------------------------------------

    async def _supervise(self) -> None:
        delay = BACKOFF[0]
        while not self._stopping:
            started = time.monotonic()
            try:
                await self._run_one()
            except (OSError, wire.WireError) as exc:
                log.error("the ingest receiver failed: %s", exc)
            self._connected.clear()
            if self._stopping:
                return
            if time.monotonic() - started > 60:
                delay = BACKOFF[0]
            log.warning("the ingest receiver exited (%s); starting another in %.1fs",
                        self._proc.returncode if self._proc else None, delay)
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, BACKOFF[1])

    async def _run_one(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_ROOT, env.get("PYTHONPATH")]))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "telemed.ingest.receiver",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            env=env, limit=wire.MAX_FRAME)
        self._generation += 1
        self._settlements = []
        self._proc = proc
        self.starts += 1
        config = dict(self._config, log_level=logging.getLogger().getEffectiveLevel(),
                      log_format=_log_format())
        self._send("init", config)
        if self.starts > 1 and self.on_replaced is not None:
            self.on_replaced()
        try:
            assert proc.stdout is not None
            reader = proc.stdout
            while True:
                try:
                    header = await reader.readexactly(wire.HEADER.size)
                    body = await reader.readexactly(wire.length(header))
                except asyncio.IncompleteReadError:
                    break
                self._received(wire.parse(body))
        finally:
            if proc.returncode is None and not self._stopping:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            await proc.wait()

    def _send(self, *items: Any) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdin.is_closing():
            return
        proc.stdin.write(wire.frame(*items))

    # --- its frames ------------------------------------------------------------------

    def _received(self, items: wire.Frame) -> None:
        name = items[0]
        if name == "msgs":
            generation = self._generation
            submit_decoded, submit_status = self._submit_decoded, self._submit_status
            from_micros = wire.from_micros
            for token, device_id, kind, received_us, body in items[1]:
                received_at = from_micros(received_us)
                if kind == "readings":
                    submit_decoded(device_id, wire.unpack_body(body), received_at,
                                   self._settler(generation, token, True))
                else:
                    submit_status(device_id, body, received_at,
                                  self._settler(generation, token, False))
        elif name == "state":
            if items[1]:
                if self.first_connected_at is None:
                    self.first_connected_at = time.monotonic()
                self._connected.set()
            else:
                self._connected.clear()
        else:
            raise wire.WireError(f"unknown frame {name!r}")

    def _settler(self, generation: int, token: int,
                 answer: bool) -> Callable[[Outcome], None]:
        def settle(outcome: Outcome) -> None:
            if generation != self._generation:
                return  # its receiver is gone: the broker redelivers it
            errors = ([r.to_dict() for r in outcome.rejections]
                      if answer and outcome.rejections else None)
            self._settlements.append((token, errors))
            if not self._flush_scheduled:
                self._flush_scheduled = True
                self._loop.call_soon(self._flush)
        return settle

    def _flush(self) -> None:
        self._flush_scheduled = False
        settlements, self._settlements = self._settlements, []
        if settlements:
            self._send("settle", settlements)

