"""The ingest pipeline: decode → batch writer → settle (ack, errors topic) → bus and metrics.

MQTT messages and ``POST /api/v1/devices/{id}/readings`` enter here alike. Decoding (SenML,
units, plausibility) happens on arrival; device checks, storage and rules happen in the
writer's batch transaction; a message is settled only after that commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from aiohttp import web

from telemed.bus import ALERTS, EventBus
from telemed.db.engine import SessionFactory
from telemed.domain.senml import DecodedPack, Rejection, decode_pack
from telemed.ingest.envelope import Envelope, Outcome
from telemed.ingest.intake import MqttIntake
from telemed.ingest.store import BatchResult
from telemed.ingest.writer import DEFAULT_MAX_DELAY, DEFAULT_MAX_READINGS, BatchWriter
from telemed.metrics import Metrics
from telemed.services.context import ContextCache

log = logging.getLogger("telemed.ingest")

ErrorSink = Callable[[str, Sequence[Rejection]], None]


class Pipeline:
    """Everything between a received message and a committed, evaluated reading."""

    def __init__(
        self,
        sessions: SessionFactory,
        bus: EventBus,
        metrics: Metrics,
        cache: ContextCache | None = None,
        *,
        max_readings: int = DEFAULT_MAX_READINGS,
        max_delay: float = DEFAULT_MAX_DELAY,
    ) -> None:
        self.cache = cache or ContextCache()
        self._bus = bus
        self._metrics = metrics
        self.writer = BatchWriter(sessions, self.cache, self._committed,
                                  max_readings=max_readings, max_delay=max_delay)
        self.error_sink: ErrorSink | None = None
        self.mqtt: MqttIntake | None = None  # set when this process reads MQTT
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.writer.run(),
                                                            name="ingest-writer")

    async def stop(self, drain_timeout: float = 5.0) -> None:
        if self._task is None:
            return
        await self.writer.drain(drain_timeout)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    # --- entry points ----------------------------------------------------------------

    def on_mqtt_message(self, device_id: str, leaf: str, payload: bytes,
                        received_at: datetime, settle: Callable[[], None]) -> None:
        """MessageHandler of an MQTT client in this process (`Settings.ingest_receiver`
        inline): decode here, answer the device's errors topic after commit."""
        if leaf == "readings":
            def done(outcome: Outcome) -> None:
                settle()
                if outcome.rejections and self.error_sink is not None:
                    self.error_sink(device_id, outcome.rejections)

            self.submit_decoded(device_id, decode_pack(payload, received_at), received_at,
                                done)
        elif leaf == "status":
            self.submit_status(device_id, payload, received_at, lambda _outcome: settle())
        else:
            settle()

    def submit_decoded(self, device_id: str, decoded: DecodedPack, received_at: datetime,
                       on_done: Callable[[Outcome], None],
                       entered_by: str | None = None) -> None:
        """A decoded readings pack, for the next batch (``on_done`` after its commit)."""
        self.writer.submit(Envelope("readings", device_id, b"", received_at, on_done,
                                    decoded, entered_by=entered_by))

    def submit_status(self, device_id: str, payload: bytes, received_at: datetime,
                      on_done: Callable[[Outcome], None]) -> None:
        """A device's ``status`` message, for the next batch."""
        self.writer.submit(Envelope("status", device_id, payload, received_at, on_done))

    async def ingest(self, device_id: str, payload: bytes,
                     entered_by: str | None = None) -> Outcome:
        """Submit a pack and wait until it is committed (the HTTP path; ``entered_by``: the
        person who typed manual readings in, `telemed.services.manual_readings`)."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()

        def done(outcome: Outcome) -> None:
            if not future.done():
                future.set_result(outcome)

        received_at = datetime.now(UTC)
        self.submit_decoded(device_id, decode_pack(payload, received_at), received_at, done,
                            entered_by)
        return await future

    # --- after commit ----------------------------------------------------------------

    async def _committed(self, batch: Sequence[Envelope], result: BatchResult) -> None:
        metrics = self._metrics
        now = datetime.now(UTC)
        if result.deferred:
            metrics.ingest_deferred.inc(len(result.deferred))
        for envelope in batch:
            outcome = envelope.outcome
            for rejection in outcome.rejections:
                metrics.readings_rejected.labels(rejection.code).inc()
            if outcome.rejections:
                log.info("device %s: %d rejected (%s)", envelope.device_id,
                         len(outcome.rejections),
                         ", ".join(sorted({r.code for r in outcome.rejections})))
            metrics.ingest_lag.observe((now - envelope.received_at).total_seconds())
            try:
                envelope.on_done(outcome)
            except Exception:
                log.exception("settling a message of %s failed", envelope.device_id)
        counts: dict[str, int] = {}
        for reading in result.stored:
            counts[reading.metric] = counts.get(reading.metric, 0) + 1
        for metric, count in counts.items():
            metrics.readings_accepted.labels(metric).inc(count)
        for change in result.changes:
            await self._bus.publish(ALERTS, change.event())
            if change.reading_received_at is not None:
                metrics.alert_latency.observe(
                    (datetime.now(UTC) - change.reading_received_at).total_seconds())


PIPELINE: web.AppKey[Pipeline] = web.AppKey("pipeline")  # set by telemed.ingest.setup
