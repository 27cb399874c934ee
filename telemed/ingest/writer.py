"""The batching writer: one task, one transaction per batch, settle only after commit.

Messages are gathered until ``max_readings`` readings are pending or ``max_delay`` seconds
passed since the first one, then written by ``store_batch`` in one transaction. A database
that is down or locked is retried with exponential backoff while the messages stay
unacknowledged (the broker keeps them). Anything else that goes wrong is a bug or data no
rule expected: the batch is split and retried message by message, so one bad message is
rejected (``internal_error``) and everything else is stored. Messages a batch deferred (their
patient was busy in another worker's transaction) go back to the front of the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

from telemed.db.engine import SessionFactory
from telemed.domain.senml import Rejection
from telemed.ingest.envelope import Envelope
from telemed.ingest.store import BatchResult, store_batch
from telemed.services.context import ContextCache
from telemed.tasks import wait_set

log = logging.getLogger("telemed.ingest")

DEFAULT_MAX_READINGS = 2000
DEFAULT_MAX_DELAY = 0.02
BACKOFF = (0.05, 5.0)
INTEGRITY_RETRIES = 3

Committed = Callable[[Sequence[Envelope], BatchResult], Awaitable[None]]


def _transient(exc: BaseException) -> bool:
    """A database that is unreachable, restarting or locked: retry, never give up."""
    if isinstance(exc, OperationalError | InterfaceError | OSError | ConnectionError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    # asyncpg errors arrive wrapped (DBAPIError -> adapter error -> asyncpg error): look at
    # the whole chain, by class name and by SQLSTATE (08 connection exception, 57P01-03
    # shutdown / "the database system is shutting down" / starting up, 53300 too many
    # connections).
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            break
        if type(seen).__name__ in _TRANSIENT_NAMES:
            return True
        code = getattr(seen, "sqlstate", None) or getattr(seen, "pgcode", None)
        if isinstance(code, str) and (code.startswith("08") or code in _TRANSIENT_CODES):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


_TRANSIENT_NAMES = frozenset({"ConnectionDoesNotExistError", "CannotConnectNowError",
                              "ConnectionFailureError", "TooManyConnectionsError",
                              "AdminShutdownError", "CrashShutdownError"})
_TRANSIENT_CODES = frozenset({"57P01", "57P02", "57P03", "53300"})


class BatchWriter:
    """Serialises every write of the ingest pipeline."""

    def __init__(
        self,
        sessions: SessionFactory,
        cache: ContextCache,
        on_committed: Committed,
        *,
        max_readings: int = DEFAULT_MAX_READINGS,
        max_delay: float = DEFAULT_MAX_DELAY,
    ) -> None:
        self._sessions = sessions
        self._cache = cache
        self._on_committed = on_committed
        self._max_readings = max_readings
        self._max_delay = max_delay
        self._pending: deque[Envelope] = deque()
        self._pending_size = 0
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        # Backpressure: intake pauses above the high-water mark of pending readings and
        # resumes below the low one, so the loop leaves the CPU to the database meanwhile
        # (and memory stays bounded while the database is down).
        self.high_water = 2 * max_readings
        self.low_water = max_readings
        self.on_pressure: Callable[[bool], None] | None = None
        self._paused = False
        self.batches = 0
        self.retries = 0
        self.deferred = 0  # messages left for a later batch (their patient was busy)
        self.busy_seconds = 0.0  # wall time spent in batch transactions

    def submit(self, envelope: Envelope) -> None:
        self._pending.append(envelope)
        self._pending_size += envelope.size
        self._idle.clear()
        self._wake.set()
        if self._pending_size >= self._max_readings:
            self._full.set()
        if not self._paused and self._pending_size >= self.high_water:
            self._paused = True
            if self.on_pressure is not None:
                self.on_pressure(True)

    @property
    def backlog(self) -> int:
        return len(self._pending)

    async def drain(self, seconds: float) -> bool:
        """Wait until everything submitted so far is settled (at most ``seconds``)."""
        return await wait_set(self._idle, seconds)

    async def run(self) -> None:
        """The writer task (cancel it to stop; unsettled messages stay unacknowledged)."""
        while True:
            await self._wake.wait()
            if self._pending_size < self._max_readings:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self._max_delay)
            batch = self._take()
            if batch:
                await self._write(batch)
            if not self._pending:
                self._wake.clear()
                self._idle.set()

    def _put_back(self, deferred: list[Envelope]) -> None:
        """Queue deferred messages first again (they keep their order)."""
        self.deferred += len(deferred)
        self._pending.extendleft(reversed(deferred))
        self._pending_size += sum(e.size for e in deferred)
        self._wake.set()

    def _take(self) -> list[Envelope]:
        batch: list[Envelope] = []
        size = 0
        while self._pending and (not batch or size + self._pending[0].size
                                 <= self._max_readings):
            envelope = self._pending.popleft()
            batch.append(envelope)
            size += envelope.size
        self._pending_size -= size
        if self._pending_size < self._max_readings:
            self._full.clear()
        self._relieve()
        return batch

    def _relieve(self) -> None:
        if self._paused and self._pending_size <= self.low_water:
            self._paused = False
            if self.on_pressure is not None:
                self.on_pressure(False)

    async def _write(self, batch: list[Envelope]) -> None:
        delay = BACKOFF[0]
        integrity_failures = 0
        while True:
            try:
                result = await self._transaction(batch)
            except asyncio.CancelledError:
                raise
            except IntegrityError as exc:
                # e.g. another worker opened the same alert first: retry sees its row.
                integrity_failures += 1
                if integrity_failures > INTEGRITY_RETRIES:
                    await self._split(batch, exc)
                    return
                log.info("batch conflicted (%s); retrying", exc.orig)
                continue
            except Exception as exc:
                if _transient(exc):
                    self.retries += 1
                    log.warning("database unavailable (%s); batch of %d kept unacknowledged, "
                                "retrying in %.2fs", exc, len(batch), delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, BACKOFF[1])
                    continue
                await self._split(batch, exc)
                return
            self.batches += 1
            if result.deferred:
                self._put_back(result.deferred)
                deferred = {id(envelope) for envelope in result.deferred}
                batch = [envelope for envelope in batch if id(envelope) not in deferred]
            await self._on_committed(batch, result)
            return

    async def _transaction(self, batch: Sequence[Envelope]) -> BatchResult:
        started = time.perf_counter()
        try:
            async with self._sessions() as session:
                result = await store_batch(session, self._cache, batch)
                await session.commit()
                return result
        finally:
            self.busy_seconds += time.perf_counter() - started

    async def _split(self, batch: list[Envelope], exc: BaseException) -> None:
        if len(batch) > 1:
            log.warning("batch of %d failed (%r); retrying message by message", len(batch), exc)
            for envelope in batch:
                await self._write([envelope])
            return
        envelope = batch[0]
        log.error("message from device %s cannot be stored; rejected", envelope.device_id,
                  exc_info=exc)
        envelope.outcome.accepted = envelope.outcome.duplicates = 0
        envelope.outcome.rejections = [Rejection(
            None, "internal_error", "The platform could not process this message; it was "
            "logged for the operators.")]
        await self._on_committed(batch, BatchResult())

