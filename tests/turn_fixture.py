"""Debian's coturn on loopback with a shared secret (`use-auth-secret`), for tests.

`TurnServer` can be stopped and started again on the same port (a TURN outage mid-call).
Without `turnserver` the test fails under CI=true and is skipped elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

SECRET = "turn-test-secret-0123456789"
REALM = "telemed.test"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class TurnServer:
    """One coturn process on a fixed loopback UDP port."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_udp_port()
        self.process: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Future[bytes] | None = None

    @property
    def url(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=udp"

    async def start(self) -> None:
        process = await asyncio.create_subprocess_exec(
            self.binary, "-n", "--listening-ip=127.0.0.1", f"--listening-port={self.port}",
            "--relay-ip=127.0.0.1", "--min-port=49152", "--max-port=65535",
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
