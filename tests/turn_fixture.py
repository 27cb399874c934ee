"""Debian's coturn on loopback with a shared secret (`use-auth-secret`), for tests.

`TurnServer` can be stopped and started again on the same port (a TURN outage mid-call).
Its listening port and relay ports lie outside the kernel's ephemeral range, so no socket of
another test can take them, and it counts as started once it answers a STUN Binding request
(coturn logs its start before its UDP listeners are bound). Without `turnserver` the test
fails under CI=true and is skipped elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import shutil
import socket
import struct
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

SECRET = "turn-test-secret-0123456789"
REALM = "telemed.test"


LISTEN_PORTS = (20000, 29999)  # below the ephemeral range (32768-60999 on Linux)
RELAY_PORTS = (61000, 65535)  # above it


def free_listen_port() -> int:
    """A loopback port free for UDP and TCP, outside the ephemeral range."""
    for _ in range(200):
        port = random.randint(*LISTEN_PORTS)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, \
                    socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                udp.bind(("127.0.0.1", port))
                tcp.bind(("127.0.0.1", port))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port for coturn")


def stun_answers(port: int, seconds: float) -> bool:
    """True once a STUN Binding request to the port gets an answer (within `seconds`)."""
    request = struct.pack("!HHI", 0x0001, 0, 0x2112A442) + secrets.token_bytes(12)
    deadline = time.monotonic() + seconds
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.settimeout(0.2)
        while time.monotonic() < deadline:
            try:
                probe.sendto(request, ("127.0.0.1", port))
                answer = probe.recv(2048)
            except OSError:  # refused (not bound yet) or timed out
                time.sleep(0.05)
                continue
            if answer[8:20] == request[8:20]:
                return True
    return False


class TurnServer:
    """One coturn process on a fixed loopback UDP port."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_listen_port()
        self.process: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Future[bytes] | None = None

    @property
    def url(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=udp"

    async def start(self) -> None:
        process = await asyncio.create_subprocess_exec(
            self.binary, "-n", "--listening-ip=127.0.0.1", f"--listening-port={self.port}",
            "--relay-ip=127.0.0.1", f"--min-port={RELAY_PORTS[0]}",
            f"--max-port={RELAY_PORTS[1]}",
            "--use-auth-secret", f"--static-auth-secret={SECRET}", f"--realm={REALM}",
            "--no-cli", "--no-tls", "--no-dtls", "--allow-loopback-peers",
            "--log-file=stdout", "--simple-log", f"--pidfile={self.directory / 'turn.pid'}",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        self.process = process
        assert process.stdout is not None
        async with asyncio.timeout(10):
            while True:
                line = await process.stdout.readline()
                if not line:
                    pytest.fail("turnserver exited at start")
                if b"listener opened on" in line or b"Total General servers" in line:
                    break
        self._drain = asyncio.ensure_future(process.stdout.read())
        if not await asyncio.to_thread(stun_answers, self.port, 10.0):
            pytest.fail(f"turnserver does not answer STUN on port {self.port}")

    async def stop(self) -> None:
        """SIGKILL: the relays it held are gone, as in a crash."""
        process, self.process = self.process, None
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()
        if self._drain is not None:
            with contextlib.suppress(Exception):
                await self._drain
            self._drain = None


@pytest.fixture
async def coturn(tmp_path: Path) -> AsyncIterator[TurnServer]:
    """A running coturn; stopped after the test."""
    binary = shutil.which("turnserver")
    if binary is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("coturn (turnserver) is not installed, and CI=true requires it")
        pytest.skip("coturn (turnserver) is not installed")
    server = TurnServer(binary, tmp_path)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
