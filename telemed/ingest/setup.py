"""`setup_ingest(app)`: the pipeline, its MQTT client, cache invalidation, device configs
and the scheduler, all owned by one cleanup context.

Roles: the pipeline (and so ``POST /api/v1/devices/{id}/readings``) exists in every role that
serves the API; the MQTT client, the config publisher and the scheduler run in ``serve`` and
``ingest`` (not in ``web``). The MQTT client needs a broker (``Settings.broker_mode`` other
than ``none``): the broker's cleanup context must come first and publish its ``BrokerInfo``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine, Sequence
from typing import Any

from aiohttp import web

from telemed import keys
from telemed.broker import BROKER
from telemed.bus import CAREPLANS, DEVICES, BusOverflow, Event, EventBus
from telemed.domain.senml import Rejection
from telemed.ingest.device_config import device_configs
from telemed.ingest.mqtt import (
    MAX_ERRORS_PER_MESSAGE_DEFAULT,
    BrokerAddress,
    IngestMqttClient,
    config_topic,
    default_client_id,
    errors_topic,
)
from telemed.ingest.pipeline import PIPELINE, Pipeline
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


def _error_sink(client: IngestMqttClient) -> Any:
    def sink(device_id: str, rejections: Sequence[Rejection]) -> None:
        topic = errors_topic(device_id)
        for rejection in rejections[:MAX_ERRORS_PER_MESSAGE_DEFAULT]:
            client.publish_json(topic, rejection.to_dict())
        if len(rejections) > MAX_ERRORS_PER_MESSAGE_DEFAULT:
            client.publish_json(topic, {
                "code": "too_many_errors",
                "message": f"{len(rejections) - MAX_ERRORS_PER_MESSAGE_DEFAULT} more records "
                           "of this pack were rejected.",
                "record_index": None})
    return sink


async def publish_configs(app: web.Application, client: IngestMqttClient, *,
                          device_id: str | None = None, patient_id: str | None = None) -> int:
    """Publish the retained config of the matching devices; returns how many."""
    async with app[keys.SESSIONS]() as session:
        configs = await device_configs(session, device_id=device_id, patient_id=patient_id)
    return await client.publish_paced(
        ((config_topic(target), payload) for target, payload in configs), retain=True)


async def _publish_configs_when_connected(app: web.Application,
                                          client: IngestMqttClient) -> None:
    """At start, (re)publish every device's config: plans may have changed meanwhile."""
    while not await client.wait_connected(60):
        log.warning("the ingest worker is not connected to the broker yet; retrying")
    try:
        count = await publish_configs(app, client)
        log.info("published the config of %d devices", count)
    except Exception:
        log.exception("publishing device configs at start failed")


async def _follow(app: web.Application, bus: EventBus, channel: str, pipeline: Pipeline,
                  client: IngestMqttClient | None) -> None:
    """Invalidate caches and republish device configs on care-plan and device events."""
    while True:
        subscription = bus.subscribe(channel)
        try:
            async for event in subscription:
                await _on_event(app, channel, event, pipeline, client)
            return
        except BusOverflow:
            pipeline.cache.invalidate_device()
            pipeline.cache.invalidate_patient()
        finally:
            await subscription.close()


async def _on_event(app: web.Application, channel: str, event: Event, pipeline: Pipeline,
                    client: IngestMqttClient | None) -> None:
    device_id = event.get("device_id")
    patient_id = event.get("patient_id")
    if channel == DEVICES:
        pipeline.cache.invalidate_device(device_id if isinstance(device_id, str) else None)
    pipeline.cache.invalidate_patient(patient_id if isinstance(patient_id, str) else None)
    if client is None:
        return
    try:
        if isinstance(device_id, str):
            await publish_configs(app, client, device_id=device_id)
        elif isinstance(patient_id, str):
            await publish_configs(app, client, patient_id=patient_id)
    except Exception:
        log.exception("publishing device config after a %s event failed", channel)


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

    client: IngestMqttClient | None = None
    address = broker_address(app) if role != "web" else None
    if address is not None:
        client = IngestMqttClient(address, settings.ingest_client_id or default_client_id(),
                                  pipeline.on_mqtt_message,
                                  shared=shared_subscription(app))
        pipeline.error_sink = _error_sink(client)
        pipeline.mqtt = client
        pipeline.writer.on_pressure = client.set_paused
        client.start()
        ready = client

        async def mqtt_ready(_app: web.Application) -> bool:
            return ready.connected

        add_readiness_check(app, "mqtt_ingest", mqtt_ready)
        spawn(_publish_configs_when_connected(app, client), "device-configs")
    for channel in (CAREPLANS, DEVICES):
        spawn(_follow(app, bus, channel, pipeline, client), f"ingest-follow-{channel}")
    if role != "web" and settings.scheduler_interval > 0:
        spawn(run_scheduler(app[keys.SESSIONS], bus, settings.scheduler_interval,
                            settings.night, settings.timezone), "rules-scheduler")
    try:
        yield
    finally:
        await cancel_and_wait(tasks)
        await pipeline.stop()
        if client is not None:
            await client.stop()


def setup_ingest(app: web.Application) -> None:
    """Install the ingest pipeline (after the database, bus and broker contexts)."""
    app.cleanup_ctx.append(_ingest_ctx)
