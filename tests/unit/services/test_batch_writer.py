"""The batching writer: retries a database that is down, isolates a bad message."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from telemed.ingest import writer as writer_module
from telemed.ingest.envelope import Envelope, Outcome
from telemed.ingest.store import BatchResult
from telemed.ingest.writer import BatchWriter
from telemed.services.context import ContextCache


class FakeSession:
    async def __aenter__(self) -> FakeSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def commit(self) -> None:
        return None


def _envelope(device_id: str, settled: list[tuple[str, Outcome]]) -> Envelope:
    return Envelope("status", device_id, b"online", datetime.now(UTC),
                    lambda outcome: settled.append((device_id, outcome)))


async def _run(writer: BatchWriter, envelopes: Sequence[Envelope]) -> None:
    task = asyncio.create_task(writer.run())
    for envelope in envelopes:
        writer.submit(envelope)
    await asyncio.sleep(0)
    assert await writer.drain(5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_database_down_is_retried_and_nothing_settles_before_commit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    settled: list[tuple[str, Outcome]] = []

    async def store(session: Any, cache: Any, batch: Sequence[Envelope]) -> BatchResult:
        calls.append(len(batch))
        if len(calls) < 3:
            assert settled == []  # not acknowledged while the database is down
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return BatchResult()

    monkeypatch.setattr(writer_module, "store_batch", store)
    monkeypatch.setattr(writer_module, "BACKOFF", (0.001, 0.01))
    committed: list[int] = []

    async def on_committed(batch: Sequence[Envelope], result: BatchResult) -> None:
        committed.append(len(batch))
        for envelope in batch:
            envelope.on_done(envelope.outcome)

    writer = BatchWriter(lambda: FakeSession(), ContextCache(), on_committed,  # type: ignore[arg-type]
                         max_delay=0.01)
    await _run(writer, [_envelope("a", settled), _envelope("b", settled)])
    assert calls == [2, 2, 2]
    assert committed == [2]
    assert [d for d, _ in settled] == ["a", "b"]
    assert writer.retries == 2


async def test_a_message_that_breaks_the_batch_is_rejected_alone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    async def store(session: Any, cache: Any, batch: Sequence[Envelope]) -> BatchResult:
        if any(e.device_id == "bad" for e in batch):
            raise ValueError("a bug meets odd data")
        for envelope in batch:
            envelope.outcome.accepted = 1
        return BatchResult()

    monkeypatch.setattr(writer_module, "store_batch", store)
    settled: list[tuple[str, Outcome]] = []

    async def on_committed(batch: Sequence[Envelope], result: BatchResult) -> None:
        for envelope in batch:
            envelope.on_done(envelope.outcome)

    writer = BatchWriter(lambda: FakeSession(), ContextCache(), on_committed,  # type: ignore[arg-type]
                         max_delay=0.01)
    await _run(writer, [_envelope(d, settled) for d in ("a", "bad", "c")])
    outcomes = {d: o for d, o in settled}
    assert outcomes["a"].accepted == outcomes["c"].accepted == 1
    assert [r.code for r in outcomes["bad"].rejections] == ["internal_error"]


async def test_deferred_messages_are_settled_by_a_later_batch_in_order(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A message whose patient was busy elsewhere is not settled now, and comes back first."""
    batches: list[list[str]] = []

    async def store(session: Any, cache: Any, batch: Sequence[Envelope]) -> BatchResult:
        batches.append([e.device_id for e in batch])
        result = BatchResult()
        if len(batches) == 1:  # the patient of "b" and "c" is busy the first time
            result.deferred = [e for e in batch if e.device_id in ("b", "c")]
            for envelope in result.deferred:
                envelope.deferrals += 1
        return result

    monkeypatch.setattr(writer_module, "store_batch", store)
    settled: list[tuple[str, Outcome]] = []
    committed: list[list[str]] = []

    async def on_committed(batch: Sequence[Envelope], result: BatchResult) -> None:
        committed.append([e.device_id for e in batch])
        for envelope in batch:
            envelope.on_done(envelope.outcome)

    writer = BatchWriter(lambda: FakeSession(), ContextCache(), on_committed,  # type: ignore[arg-type]
                         max_delay=0.01)
    envelopes = [_envelope(d, settled) for d in ("a", "b", "c", "d")]
    await _run(writer, envelopes)
    assert batches == [["a", "b", "c", "d"], ["b", "c"]]
    assert committed == [["a", "d"], ["b", "c"]]
    assert [d for d, _ in settled] == ["a", "d", "b", "c"]  # each once
    assert writer.deferred == 2
