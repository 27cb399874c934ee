"""Pytest plugin: a real Mosquitto with dynamic security for integration tests.

Fixtures
- `broker` -> TestBroker: a private Mosquitto on a free loopback port, started through the
  platform's own code (files, supervisor, dynamic-security admin, ingest identity), one per
  test. `await broker.stop()` / `start()` / `restart()` stop it cleanly and start it again
  (persistence kept); `await broker.kill()` SIGKILLs it and waits until the supervisor has
  restarted it; `await broker.crash()` SIGKILLs it and leaves it down until `start()`.
  `broker.info` is its BrokerInfo, `broker.dynsec` an admin DynSecClient.
- `broker_settings`: the `settings` fixture plus MQTT_URL pointing at `broker` (admin user).
- `broker_app`: the real app on `broker_settings`. Use it in a module with
  `@pytest.fixture def app(broker_app): return broker_app` so `client` and `world` use it.
- `mqtt_client`: factory of TestMqttClient (paho in its thread, awaitable results) for
  acting as a device or as ingest: `await mqtt_client(username, password, client_id=...)`.

Without Mosquitto the tests that use these fixtures fail under CI=true and skip elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import paho.mqtt.client as mqtt
import pytest
from aiohttp import web
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from telemed.app import create_app
from telemed.broker.dynsec import DynSecClient
from telemed.broker.errors import BrokerSetupError
from telemed.broker.info import BrokerInfo
from telemed.broker.private import find_mosquitto, find_plugin
from telemed.broker.runtime import BrokerHandle, open_broker
from telemed.broker.supervisor import MosquittoSupervisor
from telemed.settings import Settings, load_settings
from tests.helpers.net import free_port

IN_CI = os.environ.get("CI", "").lower() == "true"


def _missing(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is not available, and CI=true requires it")
    pytest.skip(f"{what} is not available")


@dataclass
class TestBroker:
    """A running test broker and the handles to disturb it."""

    __test__ = False  # not a test class

    handle: BrokerHandle
    data_dir: Path

    @property
    def info(self) -> BrokerInfo:
        return self.handle.info

    @property
    def dynsec(self) -> DynSecClient:
        return self.handle.dynsec

    @property
    def supervisor(self) -> MosquittoSupervisor:
        assert self.handle.supervisor is not None
        return self.handle.supervisor

    @property
    def admin_url(self) -> str:
        info = self.info
        return (f"mqtt://{quote(info.admin_username, safe='')}:"
                f"{quote(info.admin_password, safe='')}@{info.host}:{info.port}")

    @property
    def pid(self) -> int | None:
        return self.supervisor.pid

    async def stop(self) -> None:
        """Stop Mosquitto cleanly (it saves its persistence file)."""
        await self.supervisor.stop()

    async def start(self) -> None:
        """Start it again on the same port, files and persistence."""
        await self.supervisor.start()
        await self.dynsec.wait_connected(10)

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def kill(self) -> None:
        """SIGKILL Mosquitto (a crash) and wait until the supervisor has restarted it."""
        old = self.pid
        self.supervisor.kill()
        await self.supervisor.wait_running(15)
        assert self.pid not in (None, old)
        await self.dynsec.wait_connected(10)

    async def crash(self) -> None:
        """SIGKILL Mosquitto and keep it down until `start()`."""
        await self.supervisor.stop(kill=True)


@pytest.fixture
async def broker(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TestBroker]:
    """A private Mosquitto with dynamic security on a free port, for one test."""
    try:
        find_mosquitto("mosquitto")
        find_plugin("")
    except BrokerSetupError as exc:
        _missing(f"Mosquitto ({exc})")
    data_dir = tmp_path_factory.mktemp("broker")
    settings = load_settings(
        env="test", broker="auto", data_dir=data_dir,
        database_url=f"sqlite+aiosqlite:///{data_dir / 'unused.db'}",
        secret_key="broker-fixture-secret-0123456789abcdef",
        mqtt_listen=f"127.0.0.1:{free_port()}",
    )
    async with open_broker(settings, private="start") as handle:
        yield TestBroker(handle, data_dir)


@pytest.fixture
def broker_settings(settings: Settings, broker: TestBroker) -> Settings:
    """The test settings, with MQTT_URL = the test broker and its admin client."""
    values = settings.model_dump()
    values["mqtt_url"] = broker.admin_url
    return load_settings(**values)


@pytest.fixture
def broker_app(broker_settings: Settings) -> web.Application:
    """The real application, using the test broker as an external broker."""
    return create_app(broker_settings)


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    qos: int


@dataclass
class TestMqttClient:
    """A paho client in its own thread whose results are awaited on the loop (tests only)."""

    __test__ = False

    client: mqtt.Client
    loop: asyncio.AbstractEventLoop
    messages: asyncio.Queue[Received] = field(default_factory=asyncio.Queue)
    connack: asyncio.Future[ReasonCode] | None = None
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)
    _subacks: dict[int, asyncio.Future[list[ReasonCode]]] = field(default_factory=dict)
    _pubacks: dict[int, asyncio.Future[None]] = field(default_factory=dict)

    def _hand(self, callback: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(callback, *args)

    def install(self) -> None:
        c = self.client
        c.on_connect = lambda cl, ud, fl, rc, pr: self._hand(self._set_connack, rc)
        c.on_disconnect = lambda cl, ud, fl, rc, pr: self._hand(self.disconnected.set)
        c.on_subscribe = lambda cl, ud, mid, rcs, pr: self._hand(self._settle_sub, mid, rcs)
        c.on_publish = lambda cl, ud, mid, rc, pr: self._hand(self._settle_pub, mid)
        c.on_message = lambda cl, ud, msg: self._hand(
            self.messages.put_nowait, Received(msg.topic, msg.payload, msg.retain, msg.qos))

    def _set_connack(self, code: ReasonCode) -> None:
        if self.connack is not None and not self.connack.done():
            self.connack.set_result(code)
        if code.is_failure:
            self.disconnected.set()
        else:
            self.disconnected.clear()

    def _settle_sub(self, mid: int, codes: list[ReasonCode]) -> None:
        future = self._subacks.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(codes)

    def _settle_pub(self, mid: int) -> None:
        future = self._pubacks.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(None)

    async def subscribe(self, topic: str, qos: int = 1) -> ReasonCode:
        """Subscribe; returns the broker's answer (`is_failure` when refused)."""
        future: asyncio.Future[list[ReasonCode]] = self.loop.create_future()
        rc, mid = self.client.subscribe(topic, qos)
        assert rc == mqtt.MQTT_ERR_SUCCESS and mid is not None
        self._subacks[mid] = future
        async with asyncio.timeout(5):
            return (await future)[0]

    async def publish(self, topic: str, payload: bytes | str, qos: int = 1,
                      retain: bool = False) -> None:
        """Publish and wait for the PUBACK (QoS 1)."""
        future: asyncio.Future[None] = self.loop.create_future()
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if qos == 0:
            return
        self._pubacks[info.mid] = future
        async with asyncio.timeout(5):
            await future

    async def next_message(self, seconds: float = 5.0) -> Received:
        async with asyncio.timeout(seconds):
            return await self.messages.get()

    async def no_message(self, seconds: float = 0.5) -> None:
        """Assert nothing arrives for a while."""
        with contextlib.suppress(TimeoutError):
            got = await self.next_message(seconds)
            raise AssertionError(f"unexpected message on {got.topic}: {got.payload!r}")

    async def wait_disconnected(self, seconds: float = 5.0) -> None:
        async with asyncio.timeout(seconds):
            await self.disconnected.wait()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


MqttFactory = Callable[..., Awaitable[TestMqttClient]]


@pytest.fixture
async def mqtt_client(broker: TestBroker) -> AsyncIterator[MqttFactory]:
    """Make connected test clients (MQTT 3.1.1, or 5 with `mqtt5=True`);
    `expect_refusal=True` returns the refused one."""
    made: list[TestMqttClient] = []
    loop = asyncio.get_running_loop()

    async def make(username: str, password: str, *, client_id: str | None = None,
                   clean: bool = True, expect_refusal: bool = False,
                   reconnect: bool = False, mqtt5: bool = False) -> TestMqttClient:
        # MQTT 5 has no clean session flag (its clean start is given on connecting)
        version: dict[str, Any] = ({"protocol": MQTTProtocolVersion.MQTTv5} if mqtt5
                                   else {"clean_session": clean})
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or username,
                             reconnect_on_failure=reconnect, **version)
        client.username_pw_set(username, password)
        wrapper = TestMqttClient(client, loop)
        wrapper.install()
        wrapper.connack = loop.create_future()
        client.connect_async(broker.info.host, broker.info.port, keepalive=30)
        client.loop_start()
        made.append(wrapper)
        async with asyncio.timeout(5):
            code = await wrapper.connack
        if expect_refusal:
            assert code.is_failure, f"{username} was accepted"
        else:
            assert not code.is_failure, f"{username} refused: {code}"
        return wrapper

    yield make
    for wrapper in made:
        await asyncio.to_thread(wrapper.stop)
