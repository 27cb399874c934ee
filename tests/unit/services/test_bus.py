"""The in-process event bus."""

from __future__ import annotations

import asyncio

import pytest

from telemed.bus import BusOverflow, InProcessBus


async def test_subscription_is_registered_before_the_first_read() -> None:
    bus = InProcessBus()
    sub = bus.subscribe("alerts")
    await bus.publish("alerts", {"n": 1})  # published before anyone iterates
    await bus.publish("other", {"n": 2})
    assert await asyncio.wait_for(sub.__anext__(), 1) == {"n": 1}
    await sub.close()
    assert bus.subscriber_count("alerts") == 0


async def test_every_subscriber_gets_every_event_in_order() -> None:
    bus = InProcessBus()
    subs = [bus.subscribe("alerts") for _ in range(3)]
    for n in range(5):
        await bus.publish("alerts", {"n": n})
    for sub in subs:
        assert [(await sub.__anext__())["n"] for _ in range(5)] == [0, 1, 2, 3, 4]


async def test_a_slow_subscriber_overflows_instead_of_growing_forever() -> None:
    bus = InProcessBus(queue_size=3)
    sub = bus.subscribe("alerts")
    for n in range(10):
        await bus.publish("alerts", {"n": n})
    got = [(await sub.__anext__())["n"] for _ in range(3)]
    assert got == [0, 1, 2]
    with pytest.raises(BusOverflow):
        await sub.__anext__()
    assert bus.subscriber_count("alerts") == 0


async def test_close_ends_every_iteration() -> None:
    bus = InProcessBus()
    sub = bus.subscribe("alerts")

    async def drain() -> list[dict[str, object]]:
        return [event async for event in sub]

    task = asyncio.create_task(drain())
    await bus.publish("alerts", {"n": 1})
    await asyncio.sleep(0)
    await bus.close()
    assert await asyncio.wait_for(task, 1) == [{"n": 1}]


async def test_change_events_carry_the_ids_ingest_needs() -> None:
    from telemed.bus import CAREPLANS, DEVICES
    from telemed.bus.events import careplan_changed, device_changed

    bus = InProcessBus()
    plans, devices = bus.subscribe(CAREPLANS), bus.subscribe(DEVICES)
    await careplan_changed(bus, "p1", "plan1", 2)
    await device_changed(bus, "d1", None)
    assert (await plans.__anext__())["patient_id"] == "p1"
    assert await devices.__anext__() == {"device_id": "d1", "patient_id": None}
