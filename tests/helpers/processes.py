"""Processes a test started, and theirs (Linux /proc)."""

from __future__ import annotations

import asyncio
from pathlib import Path


def children(pid: int) -> list[int]:
    """The processes ``pid`` started that still exist."""
    return [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()]


def with_children(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    found = [pid]
    for child in children(pid):
        found += with_children(child)
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead and not yet reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


async def gone(pid: int, seconds: float) -> bool:
    """Whether ``pid`` ends within ``seconds``."""
    for _ in range(int(seconds / 0.05)):
        if not alive(pid):
            return True
        await asyncio.sleep(0.05)
    return False
