"""Mosquitto dynamic-security client: commands to `$CONTROL/dynamic-security/v1`, awaited answers.

paho is driven by the event loop through the platform's one adapter (`telemed.mqtt_loop`),
so its callbacks run on the loop; a supervising task reconnects after a loss (1 s, doubling
up to 5 s, as paho's own reconnect did). Commands are sent with QoS 0 and only while
connected: a command that cannot be delivered fails at once instead of being replayed by paho
long after the caller gave up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import secrets
import socket
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from telemed.broker.errors import BrokerUnavailable, DynSecError
from telemed.broker.info import BrokerInfo
from telemed.broker.topics import CONTROL_RESPONSE_TOPIC, CONTROL_TOPIC
from telemed.mqtt_loop import PahoLoop

__all__ = ["Acl", "Answer", "BrokerUnavailable", "DynSecClient", "DynSecError"]

log = logging.getLogger("telemed.broker.dynsec")

AclType = Literal["publishClientSend", "publishClientReceive", "subscribeLiteral",
                  "subscribePattern", "unsubscribeLiteral", "unsubscribePattern"]

# Answers that mean "already as wanted" for idempotent operations (Mosquitto 2.0 wording).
ROLE_EXISTS = "Role already exists"
CLIENT_EXISTS = "Client already exists"
ROLE_NOT_FOUND = "Role not found"
CLIENT_NOT_FOUND = "Client not found"
ACL_EXISTS = "ACL with this topic already exists"

KEEPALIVE = 30
RECONNECT = (1.0, 5.0)  # seconds before the first retry, and at most


@dataclass(frozen=True)
class Acl:
    """One ACL entry of a role."""

    acltype: AclType
    topic: str
    allow: bool = True
    priority: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"acltype": self.acltype, "topic": self.topic, "allow": self.allow,
                "priority": self.priority}


@dataclass(frozen=True)
class Answer:
    """The broker's answer to one command."""

    command: str
    error: str | None
    data: dict[str, Any]


class DynSecClient:
    """An admin connection that runs dynamic-security commands and awaits their answers."""

    def __init__(self, info: BrokerInfo, *, timeout: float = 5.0) -> None:
        self.info = info
        self.timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected = asyncio.Event()
        self._refused: str | None = None
        self._attempt = asyncio.Event()
        self._pending: dict[str, asyncio.Future[list[dict[str, Any]]]] = {}
        host = socket.gethostname()[:20]
        client_id = f"telemed-admin-{host}-{os.getpid()}-{secrets.token_hex(3)}"
        self._paho = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                 protocol=mqtt.MQTTv5)
        self._paho.username_pw_set(info.admin_username, info.admin_password)
        if info.tls:
            self._paho.tls_set_context(ssl.create_default_context())
        self._paho.on_connect = self._on_connect
        self._paho.on_subscribe = self._on_subscribe
        self._paho.on_disconnect = self._on_disconnect
        self._driver: PahoLoop | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()
        self._came_up = False
        self._started = False

    # Lifecycle --------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while connected and subscribed to the answers."""
        return self._connected.is_set()

    async def start(self, seconds: float = 10.0) -> None:
        """Connect (a task keeps reconnecting afterwards); raise BrokerUnavailable on failure."""
        self._loop = asyncio.get_running_loop()
        self._driver = PahoLoop(self._paho,
                                on_message=lambda message: self._on_message(self._paho, None,
                                                                            message),
                                on_failure=self._lost.set)
        self._started = True
        self._supervisor = self._loop.create_task(self._supervise(), name="dynsec-connection")
        await self.wait_connected(seconds)

    async def _supervise(self) -> None:
        """Connect, wait for the loss, wait a little, connect again, until closed."""
        driver = self._driver
        assert driver is not None
        delay = RECONNECT[0]
        while self._started:
            self._lost.clear()
            self._came_up = False
            try:
                await driver.connect(self.info.host, self.info.port, KEEPALIVE,
                                     clean_start=True)
            except (OSError, ssl.SSLError, ValueError) as exc:
                log.debug("dynamic-security connect to %s failed: %s", self.info.address, exc)
            else:
                await self._lost.wait()
                if self._came_up:
                    delay = RECONNECT[0]
            if not self._started:
                return
            await asyncio.sleep(delay * random.uniform(0.8, 1.0))
            delay = min(delay * 2, RECONNECT[1])

    async def close(self) -> None:
        """Disconnect and stop reconnecting; pending commands fail."""
        if not self._started:
            return
        self._started = False
        driver = self._driver
        if self._paho.is_connected() and driver is not None:
            self._paho.disconnect()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):
                    await driver.socket_gone.wait()
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        if driver is not None:
            driver.stop()
        sock = self._paho.socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
        self._connected.clear()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(BrokerUnavailable("dynamic-security client closed"))
        self._pending.clear()

    async def wait_connected(self, seconds: float) -> None:
        """Wait until connected; fail fast when the broker refuses our credentials."""
        try:
            async with asyncio.timeout(seconds):
                while not self._connected.is_set():
                    if self._refused is not None:
                        raise BrokerUnavailable(
                            f"broker {self.info.address} refused {self.info.admin_username!r}: "
                            f"{self._refused}")
                    self._attempt.clear()
                    waiters = [asyncio.ensure_future(self._connected.wait()),
                               asyncio.ensure_future(self._attempt.wait())]
                    try:
                        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        for waiter in waiters:
                            waiter.cancel()
        except TimeoutError:
            raise BrokerUnavailable(f"broker {self.info.address} is not reachable") from None

    # Commands ---------------------------------------------------------------------------

    async def execute(self, commands: Sequence[dict[str, Any]],
                      *, tolerate: Iterable[str] = ()) -> list[Answer]:
        """Run commands in one message, in order; raise DynSecError on an untolerated error."""
        if not self.connected:
            await self.wait_connected(self.timeout)
        loop = asyncio.get_running_loop()
        request = secrets.token_hex(8)
        future: asyncio.Future[list[dict[str, Any]]] = loop.create_future()
        self._pending[request] = future
        payload = {"commands": [{**command, "correlationData": f"{request}:{index}"}
                                for index, command in enumerate(commands)]}
        try:
            sent = self._paho.publish(CONTROL_TOPIC, json.dumps(payload), qos=0)
            if sent.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                raise BrokerUnavailable(f"cannot send to {self.info.address}: "
                                        f"{mqtt.error_string(sent.rc)}")
            try:
                async with asyncio.timeout(self.timeout):
                    raw = await future
            except TimeoutError:
                raise BrokerUnavailable(
                    f"no dynamic-security answer from {self.info.address} in "
                    f"{self.timeout:.0f} s") from None
        finally:
            self._pending.pop(request, None)
        answers = _order_answers(raw, request, commands)
        allowed = set(tolerate)
        for answer in answers:
            if answer.error is not None and answer.error not in allowed:
                raise DynSecError(answer.command, answer.error)
        return answers

    async def run(self, command: str, *, tolerate: Iterable[str] = (),
                  **fields: Any) -> Answer:
        """Run one command."""
        return (await self.execute([{"command": command, **fields}], tolerate=tolerate))[0]

    async def create_role(self, rolename: str, acls: Sequence[Acl], *,
                          textname: str | None = None) -> None:
        fields: dict[str, Any] = {"rolename": rolename, "acls": [a.as_json() for a in acls]}
        if textname:
            fields["textname"] = textname
        await self.run("createRole", **fields)

    async def delete_role(self, rolename: str) -> None:
        await self.run("deleteRole", rolename=rolename)

    async def add_role_acl(self, rolename: str, acl: Acl) -> None:
        await self.run("addRoleACL", tolerate=[ACL_EXISTS], rolename=rolename, **acl.as_json())

    async def create_client(self, username: str, password: str, *, roles: Sequence[str],
                            clientid: str | None = None, textname: str | None = None) -> None:
        fields: dict[str, Any] = {"username": username, "password": password,
                                  "roles": [{"rolename": r, "priority": 0} for r in roles]}
        if clientid:
            fields["clientid"] = clientid
        if textname:
            fields["textname"] = textname
        await self.run("createClient", **fields)

    async def delete_client(self, username: str) -> None:
        """Delete a client: a connected one is disconnected at once."""
        await self.run("deleteClient", username=username)

    async def set_client_password(self, username: str, password: str) -> None:
        """Change a client's password (Mosquitto 2.0 disconnects it at once)."""
        await self.run("setClientPassword", username=username, password=password)

    async def enable_client(self, username: str) -> None:
        await self.run("enableClient", username=username)

    async def disable_client(self, username: str) -> None:
        """Refuse a client's connections and disconnect it."""
        await self.run("disableClient", username=username)

    async def add_client_role(self, username: str, rolename: str) -> None:
        await self.run("addClientRole", username=username, rolename=rolename, priority=0)

    async def get_client(self, username: str) -> dict[str, Any] | None:
        """The client's description (username, roles, disabled...), or None."""
        answer = await self.run("getClient", tolerate=[CLIENT_NOT_FOUND], username=username)
        client = answer.data.get("client")
        return client if answer.error is None and isinstance(client, dict) else None

    async def get_role(self, rolename: str) -> dict[str, Any] | None:
        """The role's description (rolename, acls), or None."""
        answer = await self.run("getRole", tolerate=[ROLE_NOT_FOUND], rolename=rolename)
        role = answer.data.get("role")
        return role if answer.error is None and isinstance(role, dict) else None

    async def list_clients(self) -> list[str]:
        answer = await self.run("listClients", verbose=False, count=-1, offset=0)
        return [str(name) for name in answer.data.get("clients", [])]

    async def list_roles(self) -> list[str]:
        answer = await self.run("listRoles", verbose=False, count=-1, offset=0)
        return [str(name) for name in answer.data.get("roles", [])]

    # paho callbacks (on the loop: they come from the adapter's reads, writes and timer) ---

    def _to_loop(self, callback: Any, *args: Any) -> None:
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(callback, *args)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any,
                    reason_code: ReasonCode, properties: Any) -> None:
        if reason_code.is_failure:
            self._to_loop(self._note_attempt, str(reason_code))
            return
        client.subscribe(CONTROL_RESPONSE_TOPIC, qos=0)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int,
                      reason_codes: list[ReasonCode], properties: Any) -> None:
        if reason_codes and not reason_codes[0].is_failure:
            self._to_loop(self._set_connected, True)
        else:
            self._to_loop(self._note_attempt, "cannot subscribe to the answers topic")

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any,
                       reason_code: ReasonCode, properties: Any) -> None:
        self._to_loop(self._set_connected, False)
        self._lost.set()

    def _on_message(self, client: mqtt.Client, userdata: Any,
                    message: mqtt.MQTTMessage) -> None:
        try:
            body = json.loads(message.payload)
            responses = body["responses"]
            first = str(responses[0].get("correlationData", ""))
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            return
        request = first.split(":", 1)[0]
        if request:
            self._to_loop(self._deliver, request, responses)

    # On the loop ------------------------------------------------------------------------

    def _set_connected(self, up: bool) -> None:
        if up:
            if not self._connected.is_set():
                log.info("dynamic-security client connected to %s", self.info.address)
            self._refused = None
            self._came_up = True
            self._connected.set()
        else:
            if self._connected.is_set() and self._started:
                log.warning("dynamic-security client lost %s; reconnecting", self.info.address)
            self._connected.clear()
        self._attempt.set()

    def _note_attempt(self, refused: str) -> None:
        self._refused = refused
        self._attempt.set()

    def _deliver(self, request: str, responses: list[dict[str, Any]]) -> None:
        future = self._pending.get(request)
        if future is not None and not future.done():
            future.set_result(responses)


def _order_answers(raw: list[dict[str, Any]], request: str,
                   commands: Sequence[dict[str, Any]]) -> list[Answer]:
    by_index: dict[int, dict[str, Any]] = {}
    for item in raw:
        tag = str(item.get("correlationData", ""))
        prefix, _, position = tag.partition(":")
        if prefix == request and position.isdigit():
            by_index[int(position)] = item
    answers = []
    for index, command in enumerate(commands):
        found = by_index.get(index)
        if found is None:
            answers.append(Answer(str(command.get("command")), "no answer", {}))
            continue
        error = found.get("error")
        data = found.get("data")
        answers.append(Answer(str(found.get("command", command.get("command"))),
                              str(error) if error is not None else None,
                              data if isinstance(data, dict) else {}))
    return answers
