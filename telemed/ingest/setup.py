"""`setup_ingest(app)`: the pipeline, its MQTT client, cache invalidation, device configs
and the scheduler, all owned by one cleanup context.

Roles: the pipeline (and so ``POST /api/v1/devices/{id}/readings``) exists in every role that
serves the API; the MQTT client, the config publisher and the scheduler run in ``serve`` and
``ingest`` (not in ``web``). The MQTT client needs a broker (``Settings.broker_mode`` other
than ``none``): the broker's cleanup context must come first and publish its ``BrokerInfo``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from aiohttp import web

from telemed import keys
from telemed.broker import BROKER
from telemed.bus import CAREPLANS, DEVICES, BusOverflow, Event, EventBus
from telemed.ingest.device_config import device_configs
from telemed.ingest.intake import MqttIntake
from telemed.ingest.mqtt import BrokerAddress, IngestMqttClient, config_topic, default_client_id
from telemed.ingest.pipeline import PIPELINE, Pipeline
from telemed.ingest.receiver_process import ReceiverProcess
from telemed.ingest.scheduler import run_scheduler
from telemed.readiness import add_readiness_check
from telemed.services.manual_readings import READING_SINK
from telemed.tasks import cancel_and_wait

log = logging.getLogger("telemed.ingest")


def broker_address(app: web.Application) -> BrokerAddress | None:
    """The ingest identity on the broker published by the broker's setup, if any."""
    handle = app.get(BROKER)
    if handle is None:
        return None
    info = handle.info
    return BrokerAddress(info.host, info.port, info.ingest_username, info.ingest_password,
                         info.tls)


def shared_subscription(app: web.Application) -> bool:
    """Whether this worker reads the shared subscription (see Settings.ingest_subscription)."""
    settings = app[keys.SETTINGS]
    if settings.ingest_subscription != "auto":
        return settings.ingest_subscription == "shared"
    return not (app.get(keys.ROLE, "serve") == "serve" and settings.broker_mode == "private")


class ConfigPublisher:
    """Publishes devices' retained configs through the worker's MQTT side, one send at a
    time: each reads the configs and hands them over under one lock, so a device's newer
    config is never overtaken by an older one read earlier (the bulk send at start and a
    care-plan change during it)."""

    def __init__(self, app: web.Application, intake: MqttIntake) -> None:
        self._app = app
        self.intake = intake
        self._lock = asyncio.Lock()

    async def publish(self, *, device_id: str | None = None,
                      patient_id: str | None = None) -> int:
        """Publish the retained config of the matching devices (all without a filter)."""
        async with self._lock:
            async with self._app[keys.SESSIONS]() as session:
                configs = await device_configs(session, device_id=device_id,
                                               patient_id=patient_id)
            return await self.intake.publish_paced(
                ((config_topic(target), json.dumps(payload, separators=(",", ":")))
                 for target, payload in configs), retain=True)

    async def publish_all_when_connected(self) -> None:
        """At start, (re)publish every device's config: plans may have changed meanwhile."""
        while not await self.intake.wait_connected(60):
            log.warning("the ingest worker is not connected to the broker yet; retrying")
        try:
            count = await self.publish()
            log.info("published the config of %d devices", count)
        except Exception:
            log.exception("publishing device configs at start failed")


async def _follow(app: web.Application, bus: EventBus, channel: str, pipeline: Pipeline,
                  configs: ConfigPublisher | None) -> None:
    """Invalidate caches and republish device configs on care-plan and device events."""
    while True:
        subscription = bus.subscribe(channel)
        try:
            async for event in subscription:
                await _on_event(channel, event, pipeline, configs)
            return
        except BusOverflow:
            pipeline.cache.invalidate_device()
            pipeline.cache.invalidate_patient()
        finally:
            await subscription.close()


async def _on_event(channel: str, event: Event, pipeline: Pipeline,
                    configs: ConfigPublisher | None) -> None:
    device_id = event.get("device_id")
    patient_id = event.get("patient_id")
    if channel == DEVICES:
        pipeline.cache.invalidate_device(device_id if isinstance(device_id, str) else None)
    pipeline.cache.invalidate_patient(patient_id if isinstance(patient_id, str) else None)
    if configs is None:
        return
    try:
        if isinstance(device_id, str):
            await configs.publish(device_id=device_id)
        elif isinstance(patient_id, str):
            await configs.publish(patient_id=patient_id)
    except Exception:
        log.exception("publishing device config after a %s event failed", channel)


def receiver_mode(app: web.Application) -> str:
    """Where this worker's MQTT connection and decoding run (Settings.ingest_receiver)."""
    setting = app[keys.SETTINGS].ingest_receiver
    if setting != "auto":
        return setting
    return "process" if app.get(keys.ROLE, "serve") == "ingest" else "inline"


def _intake(app: web.Application, address: BrokerAddress, pipeline: Pipeline) -> MqttIntake:
    settings = app[keys.SETTINGS]
    client_id = settings.ingest_client_id or default_client_id()
    if receiver_mode(app) == "process":
        return ReceiverProcess(address, client_id, shared_subscription(app),
                               pipeline.submit_decoded, pipeline.submit_status)
    client = IngestMqttClient(address, client_id, pipeline.on_mqtt_message,
                              shared=shared_subscription(app))
    pipeline.error_sink = lambda device_id, rejections: client.answer(
        device_id, [rejection.to_dict() for rejection in rejections])
    # Inline, a pause leaves the loop to the batch transactions. A receiving process has a
    # core of its own and reads on: the broker's receive maximum bounds what it holds.
    pipeline.writer.on_pressure = client.set_paused
    return client


async def _ingest_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    role = app.get(keys.ROLE, "serve")
    bus = app[keys.BUS]
    pipeline = Pipeline(app[keys.SESSIONS], bus, app[keys.METRICS],
                        max_readings=settings.ingest_batch_size,
                        max_delay=settings.ingest_batch_ms / 1000)
    app[PIPELINE] = pipeline
    app[READING_SINK] = pipeline.ingest
    pipeline.start()
    tasks: list[asyncio.Task[None]] = []

    def spawn(coro: Coroutine[Any, Any, None], name: str) -> None:
        tasks.append(asyncio.get_running_loop().create_task(coro, name=name))

    intake: MqttIntake | None = None
    configs: ConfigPublisher | None = None
    address = broker_address(app) if role != "web" else None
    if address is not None:
        intake = _intake(app, address, pipeline)
        pipeline.mqtt = intake
        configs = ConfigPublisher(app, intake)
        if isinstance(intake, ReceiverProcess):
            publisher, restarts = configs, app[keys.METRICS].ingest_receiver_restarts

            def replaced() -> None:
                restarts.inc()
                spawn(publisher.publish_all_when_connected(), "device-configs")

            intake.on_replaced = replaced
        intake.start()
        ready = intake

        async def mqtt_ready(_app: web.Application) -> bool:
            return ready.connected

        add_readiness_check(app, "mqtt_ingest", mqtt_ready)
        spawn(configs.publish_all_when_connected(), "device-configs")
    for channel in (CAREPLANS, DEVICES):
        spawn(_follow(app, bus, channel, pipeline, configs), f"ingest-follow-{channel}")
    if role != "web" and settings.scheduler_interval > 0:
        spawn(run_scheduler(app[keys.SESSIONS], bus, settings.scheduler_interval,
                            settings.night, settings.timezone), "rules-scheduler")
    try:
        yield
    finally:
        await cancel_and_wait(tasks)
        await pipeline.stop()
        if intake is not None:
            await intake.stop()


def setup_ingest(app: web.Application) -> None:
    """Install the ingest pipeline (after the database, bus and broker contexts)."""
    app.cleanup_ctx.append(_ingest_ctx)
