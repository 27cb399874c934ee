"""Open the configured broker: start or attach to the private Mosquitto, or use MQTT_URL's."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from telemed.broker.dynsec import DynSecClient
from telemed.broker.errors import BrokerUnavailable
from telemed.broker.identities import ensure_ingest
from telemed.broker.info import BrokerInfo, derived_ingest_password, info_from_url, split_listen
from telemed.broker.private import PrivateBrokerFiles, find_mosquitto, find_plugin
from telemed.broker.supervisor import MosquittoSupervisor
from telemed.settings import Settings

log = logging.getLogger("telemed.broker")

PrivatePolicy = Literal["start", "attach", "start_if_down"]


@dataclass(frozen=True)
class BrokerHandle:
    """An open broker: where it is, the admin connection, and its supervisor if we run it."""

    info: BrokerInfo
    dynsec: DynSecClient
    supervisor: MosquittoSupervisor | None

    @property
    def healthy(self) -> bool:
        """Admin connection up, and our Mosquitto child running when we own one."""
        return self.dynsec.connected and (self.supervisor is None or self.supervisor.running)


def private_files(settings: Settings) -> PrivateBrokerFiles:
    """The private broker's directory, DATA_DIR/broker."""
    return PrivateBrokerFiles(settings.data_dir / "broker")


async def start_private(settings: Settings) -> tuple[BrokerInfo, MosquittoSupervisor]:
    """Write the private broker's files and start a supervised Mosquitto on MQTT_LISTEN."""
    files = private_files(settings)
    host, port = split_listen(settings.mqtt_listen)
    binary = find_mosquitto(settings.mosquitto_bin)
    plugin = find_plugin(settings.mosquitto_plugin)
    info = await asyncio.to_thread(files.prepare, host=host, port=port, plugin=plugin)
    supervisor = MosquittoSupervisor(binary=binary, config=files.conf, host=host, port=port,
                                     pid_file=files.pid_file)
    await supervisor.start()
    return info, supervisor


async def _listening(host: str, port: int) -> bool:
    try:
        async with asyncio.timeout(2):
            _, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


@contextlib.asynccontextmanager
async def open_broker(settings: Settings, *,
                      private: PrivatePolicy = "start") -> AsyncIterator[BrokerHandle]:
    """The configured broker, ready for device management, for the duration of the block.

    External (MQTT_URL): connect as its dynamic-security admin. Private: `start` runs and
    supervises our Mosquitto (`telemed serve`), `attach` uses the one `telemed serve` runs,
    `start_if_down` attaches when it runs and otherwise starts one for the block (commands).
    The ingest role and client are ensured in every case.
    """
    supervisor: MosquittoSupervisor | None = None
    if settings.broker_mode == "external":
        info = info_from_url(settings.mqtt_url,
                             ingest_password=derived_ingest_password(settings.secret_key))
    elif settings.broker_mode == "private":
        host, port = split_listen(settings.mqtt_listen)
        if private == "attach" or (private == "start_if_down" and await _listening(host, port)):
            info = await asyncio.to_thread(private_files(settings).load_info, host, port)
        else:
            info, supervisor = await start_private(settings)
    else:
        raise BrokerUnavailable("no broker is configured (TELEMED_BROKER=none)")
    dynsec = DynSecClient(info)
    try:
        await dynsec.start()
        await ensure_ingest(dynsec, info)
        yield BrokerHandle(info, dynsec, supervisor)
    finally:
        await dynsec.close()
        if supervisor is not None:
            await supervisor.stop()


# The open broker, set by telemed.broker.setup_broker (absent with TELEMED_BROKER=none).
BROKER: web.AppKey[BrokerHandle] = web.AppKey("broker")
