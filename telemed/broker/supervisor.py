"""Run one Mosquitto child process: start it, wait until it listens, restart it when it dies."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections import deque
from pathlib import Path

from telemed.broker.errors import BrokerStartError

log = logging.getLogger("telemed.broker")
mosquitto_log = logging.getLogger("telemed.broker.mosquitto")

MIN_BACKOFF = 0.5
MAX_BACKOFF = 30.0
HEALTHY_AFTER = 30.0  # seconds of uptime after which the backoff starts again from MIN_BACKOFF


def _log_line(line: str) -> None:
    text = line.strip()
    if not text:
        return
    lowered = text.lower()
    if lowered.startswith("error") or " error" in lowered:
        mosquitto_log.error("%s", text)
    elif lowered.startswith("warning"):
        mosquitto_log.warning("%s", text)
    else:
        mosquitto_log.debug("%s", text)


class MosquittoSupervisor:
    """Owns a `mosquitto -c CONFIG` child; `start`, `stop`, and `kill` (for tests)."""

    def __init__(self, *, binary: str, config: Path, host: str, port: int,
                 pid_file: Path | None = None, ready_timeout: float = 10.0) -> None:
        self.binary = binary
        self.config = config
        self.host = host
        self.port = port
        self.pid_file = pid_file
        self.ready_timeout = ready_timeout
        self.restarts = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._stderr_task: asyncio.Task[None] | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._started_at = 0.0
        self._tail: deque[str] = deque(maxlen=20)
        self._ready = asyncio.Event()

    # Public ---------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """The pid of the running child, if any."""
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    @property
    def running(self) -> bool:
        """True while the child runs and has been seen listening."""
        return self.pid is not None and self._ready.is_set()

    async def start(self) -> None:
        """Start the child, wait until it accepts connections, then watch it."""
        if self._watch_task is not None:
            raise RuntimeError("already started")
        await asyncio.to_thread(self._stop_orphan)
        await self._spawn_ready()
        self._watch_task = asyncio.create_task(self._watch(), name="mosquitto-watch")

    async def stop(self, seconds: float = 10.0, *, kill: bool = False) -> None:
        """Stop watching, then terminate the child (kill it if it does not exit in time).

        `kill=True` sends SIGKILL at once, as a crash would (tests use it).
        """
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch_task
            self._watch_task = None
        if kill:
            self.kill()
        await self._terminate(seconds)

    def kill(self) -> None:
        """SIGKILL the child as a crash would; the watcher restarts it (tests use this)."""
        proc = self._proc
        if proc is not None and proc.returncode is None:
            self._ready.clear()
            proc.kill()

    async def wait_running(self, seconds: float = 10.0) -> None:
        """Wait until a child is up and listening (e.g. after `kill`)."""
        async with asyncio.timeout(seconds):
            while not self.running:
                await self._ready.wait()
                if not self.running:
                    await asyncio.sleep(0.05)

    # Internals ------------------------------------------------------------------------

    async def _spawn_ready(self) -> None:
        self._tail.clear()
        self._ready.clear()
        if await self._port_answers():  # our own leftover was stopped: this is someone else
            raise BrokerStartError(f"{self.host}:{self.port} is already in use by another "
                                   "program: choose another TELEMED_MQTT_LISTEN")
        try:
            proc = await asyncio.create_subprocess_exec(
                self.binary, "-c", str(self.config),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # Ctrl-C reaches us, and we stop it in order
            )
        except OSError as exc:
            raise BrokerStartError(f"cannot run {self.binary}: {exc}") from exc
        self._proc = proc
        self._started_at = time.monotonic()
        self._stderr_task = asyncio.create_task(self._read_stderr(proc), name="mosquitto-log")
        if self.pid_file is not None:
            await asyncio.to_thread(self.pid_file.write_text, f"{proc.pid}\n")
        try:
            await self._wait_listening(proc)
        except BaseException:
            await self._terminate(2.0)
            raise
        self._ready.set()
        log.info("mosquitto %d listening on %s:%d", proc.pid, self.host, self.port)

    async def _port_answers(self) -> bool:
        try:
            _, writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    async def _wait_listening(self, proc: asyncio.subprocess.Process) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while True:
            if proc.returncode is not None:
                await self._drain_stderr()
                raise BrokerStartError(
                    f"mosquitto exited with status {proc.returncode}: {self._last_lines()}")
            if await self._port_answers():
                return
            if time.monotonic() > deadline:
                raise BrokerStartError(
                    f"mosquitto is not listening on {self.host}:{self.port} after "
                    f"{self.ready_timeout:.0f} s: {self._last_lines()}")
            await asyncio.sleep(0.05)

    async def _watch(self) -> None:
        delay = MIN_BACKOFF
        while True:
            proc = self._proc
            assert proc is not None
            code = await proc.wait()
            await self._drain_stderr()
            self._ready.clear()
            if time.monotonic() - self._started_at > HEALTHY_AFTER:
                delay = MIN_BACKOFF
            log.warning("mosquitto exited with status %s; restarting in %.1f s (%s)",
                        code, delay, self._last_lines())
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)
            try:
                await self._spawn_ready()
            except BrokerStartError as exc:
                log.error("mosquitto restart failed: %s", exc)
                continue
            self.restarts += 1

    async def _terminate(self, seconds: float) -> None:
        proc = self._proc
        if proc is not None and proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), seconds)
            except TimeoutError:
                log.warning("mosquitto %d did not stop in %.0f s; killing it", proc.pid, seconds)
                proc.kill()
                await proc.wait()
        await self._drain_stderr()
        self._ready.clear()
        if self.pid_file is not None and proc is not None:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(self.pid_file.unlink)

    async def _read_stderr(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        while line := await proc.stderr.readline():
            text = line.decode(errors="replace").rstrip()
            self._tail.append(text)
            _log_line(text)

    async def _drain_stderr(self) -> None:
        task, self._stderr_task = self._stderr_task, None
        if task is not None:
            with contextlib.suppress(TimeoutError):  # wait_for cancels it then
                await asyncio.wait_for(task, 2.0)

    def _last_lines(self) -> str:
        lines = [line for line in self._tail if line.strip()]
        return " | ".join(lines[-3:]) or "no output"

    def _stop_orphan(self) -> None:
        """Stop a Mosquitto that an earlier, crashed run of ours left running."""
        if self.pid_file is None:
            return
        try:
            pid = int(self.pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return
        if str(self.config).encode() not in cmdline:
            return
        log.warning("stopping mosquitto %d left running by an earlier run", pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not Path(f"/proc/{pid}").exists():
                return
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
