"""TURN: coturn with `use-auth-secret` accepts our credentials and refuses a wrong secret."""

from __future__ import annotations

import asyncio

import aioice

from telemed.services.turn import pseudonym, turn_password, turn_username
from tests.turn_fixture import SECRET, TurnServer


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


async def test_our_credentials_allocate_a_relay(coturn: TurnServer) -> None:
    username = turn_username(pseudonym("k" * 40, "visit", "user"), 600)
    relays = await _relay_candidates(coturn.port, username, turn_password(SECRET, username))
    assert relays == ["127.0.0.1"]


async def test_a_wrong_secret_gets_no_relay(coturn: TurnServer) -> None:
    username = turn_username("someone", 600)
    assert await _relay_candidates(coturn.port, username, turn_password("wrong", username)) == []


async def test_expired_credentials_get_no_relay(coturn: TurnServer) -> None:
    username = turn_username("someone", -60)
    assert await _relay_candidates(coturn.port, username, turn_password(SECRET, username)) == []
