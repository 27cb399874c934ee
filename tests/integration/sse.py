"""A tiny Server-Sent Events reader for tests."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientResponse


@dataclass
class SseEvent:
    id: str | None
    event: str | None
    data: dict[str, Any]


async def next_event(resp: ClientResponse, seconds: float = 5.0) -> SseEvent:
    """The next event (comments such as pings are skipped)."""
    fields: dict[str, str] = {}
    data: list[str] = []

    async def read() -> SseEvent:
        while True:
            raw = await resp.content.readline()
            if not raw:
                raise EOFError("stream closed")
            line = raw.decode().rstrip("\r\n")
            if line == "":
                if data:
                    return SseEvent(fields.get("id"), fields.get("event"),
                                    json.loads("\n".join(data)))
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                data.append(value)
            else:
                fields[name] = value

    return await asyncio.wait_for(read(), seconds)
