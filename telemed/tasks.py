"""Background tasks and events: stopping tasks (cancel them all, then wait for each to
finish), and waiting for an event a bounded time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any] | None],
                          also_suppress: tuple[type[BaseException], ...] = ()) -> None:
    """Cancel every task, then await each; cancellation (and `also_suppress`) is swallowed.

    Use `also_suppress` for what a task may already have ended with (a finished
    `__anext__` future, for example); anything else is raised.
    """
    running = [task for task in tasks if task is not None]
    for task in running:
        task.cancel()
    for task in running:
        with contextlib.suppress(asyncio.CancelledError, *also_suppress):
            await task


async def wait_set(event: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set, at most `seconds`; whether it is set then (a timeout is
    no error; cancelling the caller cancels the wait)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
    return event.is_set()
