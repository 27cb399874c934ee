"""`telemed.tasks.wait_set`: an event waited for a bounded time."""

from __future__ import annotations

import asyncio
import time

import pytest

from telemed.tasks import wait_set


async def test_an_event_already_set_answers_at_once() -> None:
    event = asyncio.Event()
    event.set()
    started = time.monotonic()
    assert await wait_set(event, 5) is True
    assert time.monotonic() - started < 1


async def test_an_event_set_while_waiting_ends_the_wait() -> None:
    event = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, event.set)
    started = time.monotonic()
    assert await wait_set(event, 5) is True
    assert time.monotonic() - started < 1


async def test_an_event_never_set_answers_false_after_the_time() -> None:
    event = asyncio.Event()
    started = time.monotonic()
    assert await wait_set(event, 0.1) is False
    assert time.monotonic() - started >= 0.09


async def test_no_time_at_all_still_sees_a_set_event() -> None:
    event = asyncio.Event()
    assert await wait_set(event, 0) is False
    event.set()
    assert await wait_set(event, 0) is True


async def test_cancelling_the_caller_cancels_the_wait() -> None:
    event = asyncio.Event()
    waiting = asyncio.create_task(wait_set(event, 5))
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    event.set()  # nothing waits for it any more
    assert waiting.cancelled()
