"""TURN: coturn with `use-auth-secret` accepts our credentials and refuses a wrong secret."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aioice
import pytest

from telemed.signalling.turn import pseudonym, turn_password, turn_username

SECRET = "turn-test-secret-0123456789"
REALM = "telemed.test"


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
async def coturn(tmp_path: Path) -> AsyncIterator[int]:
    """Debian's coturn on loopback with our shared secret; its UDP port."""
    binary = shutil.which("turnserver")
    if binary is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("coturn (turnserver) is not installed, and CI=true requires it")
        pytest.skip("coturn (turnserver) is not installed")
    port = _free_udp_port()
    process = await asyncio.create_subprocess_exec(
        binary, "-n", "--listening-ip=127.0.0.1", f"--listening-port={port}",
        "--relay-ip=127.0.0.1", "--min-port=49152", "--max-port=65535",
        "--use-auth-secret", f"--static-auth-secret={SECRET}", f"--realm={REALM}",
        "--no-cli", "--no-tls", "--no-dtls", "--allow-loopback-peers",
        "--log-file=stdout", "--simple-log", f"--pidfile={tmp_path / 'turn.pid'}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(10):
            while True:
                line = await process.stdout.readline()
                if not line:
                    pytest.fail("turnserver exited at start")
                if b"listener opened on" in line or b"Total General servers" in line:
                    break
        drain = asyncio.ensure_future(process.stdout.read())
        yield port
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 5)
            except TimeoutError:
                process.kill()
                await process.wait()
    await drain


async def _relay_candidates(port: int, username: str, password: str) -> list[str]:
    connection = aioice.Connection(
        ice_controlling=True, turn_server=("127.0.0.1", port), turn_username=username,
        turn_password=password, turn_transport="udp", use_ipv6=False,
    )
    try:
        await asyncio.wait_for(connection.gather_candidates(), 15)
        return [c.host for c in connection.local_candidates if c.type == "relay"]
    finally:
        await connection.close()


async def test_our_credentials_allocate_a_relay(coturn: int) -> None:
    username = turn_username(pseudonym("k" * 40, "visit", "user"), 600)
    relays = await _relay_candidates(coturn, username, turn_password(SECRET, username))
    assert relays == ["127.0.0.1"]


async def test_a_wrong_secret_gets_no_relay(coturn: int) -> None:
    username = turn_username("someone", 600)
    assert await _relay_candidates(coturn, username, turn_password("wrong", username)) == []


async def test_expired_credentials_get_no_relay(coturn: int) -> None:
    username = turn_username("someone", -60)
    assert await _relay_candidates(coturn, username, turn_password(SECRET, username)) == []
