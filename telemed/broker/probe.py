"""Check a username/password against a broker with one bare MQTT 3.1.1 CONNECT."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import ssl
import struct

CONNACK_ACCEPTED = 0


def _string(value: str) -> bytes:
    data = value.encode()
    return struct.pack("!H", len(data)) + data


def _remaining_length(length: int) -> bytes:
    out = bytearray()
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out)


def connect_packet(client_id: str, username: str, password: str, keepalive: int = 10) -> bytes:
    """A CONNECT packet with clean session, username and password."""
    variable = _string("MQTT") + bytes([4, 0xC2]) + struct.pack("!H", keepalive)
    payload = _string(client_id) + _string(username) + _string(password)
    body = variable + payload
    return b"\x10" + _remaining_length(len(body)) + body


async def connack_code(host: str, port: int, username: str, password: str, *, tls: bool = False,
                       seconds: float = 5.0) -> int:
    """The CONNACK return code the broker gives these credentials (0 = accepted).

    Raises OSError/TimeoutError when the broker cannot be reached.
    """
    context = ssl.create_default_context() if tls else None
    async with asyncio.timeout(seconds):
        reader, writer = await asyncio.open_connection(host, port, ssl=context)
        try:
            writer.write(connect_packet(f"telemed-probe-{secrets.token_hex(4)}", username,
                                        password))
            await writer.drain()
            try:
                header = await reader.readexactly(4)
            except asyncio.IncompleteReadError as exc:
                raise ConnectionError("the broker closed the connection") from exc
            if header[0] != 0x20 or header[1] != 2:
                raise ConnectionError("unexpected answer to CONNECT")
            if header[3] == CONNACK_ACCEPTED:
                writer.write(b"\xe0\x00")  # DISCONNECT
                await writer.drain()
            return header[3]
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()


async def can_login(host: str, port: int, username: str, password: str, *, tls: bool = False,
                    seconds: float = 5.0) -> bool:
    """True when the broker accepts these credentials."""
    return await connack_code(host, port, username, password, tls=tls,
                              seconds=seconds) == CONNACK_ACCEPTED
