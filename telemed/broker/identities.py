"""The broker identities the platform manages: one client and role per device, and ingest.

A device (MQTT username = client id = device id) may publish only to its own `readings`
and `status` and subscribe only to its own `config` and `errors`; dynsec.json's default
ACL access refuses everything else.
"""

from __future__ import annotations

import logging

from telemed.broker.dynsec import (
    ACL_EXISTS,
    CLIENT_EXISTS,
    CLIENT_NOT_FOUND,
    ROLE_EXISTS,
    ROLE_NOT_FOUND,
    Acl,
    BrokerUnavailable,
    DynSecClient,
    DynSecError,
)
from telemed.broker.info import BrokerInfo
from telemed.broker.probe import can_login
from telemed.broker.topics import (
    ALL_CONFIG,
    ALL_ERRORS,
    ALL_READINGS,
    ALL_STATUS,
    INGEST_ROLE,
    SHARED_READINGS,
    DeviceTopics,
    device_role,
)

log = logging.getLogger("telemed.broker")


def device_acls(device_id: str) -> list[Acl]:
    """The ACLs of one device's role."""
    topics = DeviceTopics.of(device_id)
    return [
        Acl("publishClientSend", topics.readings),
        Acl("publishClientSend", topics.status),
        Acl("subscribePattern", topics.config),
        Acl("subscribePattern", topics.errors),
        Acl("publishClientReceive", topics.config),
        Acl("publishClientReceive", topics.errors),
        Acl("unsubscribePattern", topics.config),
        Acl("unsubscribePattern", topics.errors),
    ]


def ingest_acls() -> list[Acl]:
    """The ACLs of the ingest workers' role.

    The shared subscription needs an ACL for its whole `$share/...` form. The plain readings
    filter is allowed too, for a single worker that wants its subscription to survive a
    broker restart (Mosquitto 2.0 forgets shared subscriptions of offline sessions).
    """
    return [
        Acl("subscribePattern", SHARED_READINGS),
        Acl("subscribePattern", ALL_READINGS),
        Acl("subscribePattern", ALL_STATUS),
        Acl("publishClientReceive", ALL_READINGS),
        Acl("publishClientReceive", ALL_STATUS),
        Acl("publishClientSend", ALL_ERRORS),
        Acl("publishClientSend", ALL_CONFIG),
        Acl("unsubscribePattern", SHARED_READINGS),
        Acl("unsubscribePattern", ALL_READINGS),
        Acl("unsubscribePattern", ALL_STATUS),
    ]


async def create_device(dynsec: DynSecClient, device_id: str, password: str) -> None:
    """Create the device's role and client; on failure nothing is left behind."""
    role = device_role(device_id)
    answers = await dynsec.execute(
        [
            {"command": "createRole", "rolename": role, "textname": f"Telemed device {device_id}",
             "acls": [acl.as_json() for acl in device_acls(device_id)]},
            {"command": "createClient", "username": device_id, "password": password,
             "clientid": device_id, "textname": f"Telemed device {device_id}",
             "roles": [{"rolename": role, "priority": 0}]},
        ],
        tolerate=[ROLE_EXISTS, CLIENT_EXISTS],
    )
    role_answer, client_answer = answers
    if client_answer.error is not None:
        if role_answer.error is None:
            await _quietly_delete(dynsec, None, role)
        raise DynSecError(client_answer.command, client_answer.error)
    if role_answer.error is not None:  # a leftover role: make sure it holds exactly our ACLs
        await dynsec.execute([{"command": "deleteRole", "rolename": role},
                              {"command": "createRole", "rolename": role,
                               "acls": [acl.as_json() for acl in device_acls(device_id)]},
                              {"command": "addClientRole", "username": device_id,
                               "rolename": role, "priority": 0}])


async def delete_device(dynsec: DynSecClient, device_id: str) -> None:
    """Delete the device's client (disconnecting it at once) and its role; idempotent."""
    await dynsec.execute(
        [{"command": "deleteClient", "username": device_id},
         {"command": "deleteRole", "rolename": device_role(device_id)}],
        tolerate=[CLIENT_NOT_FOUND, ROLE_NOT_FOUND],
    )


async def set_device_password(dynsec: DynSecClient, device_id: str, password: str) -> None:
    """Give the device a new password; its current connection is closed at once."""
    await dynsec.set_client_password(device_id, password)


async def _quietly_delete(dynsec: DynSecClient, username: str | None, role: str | None) -> None:
    commands = []
    if username:
        commands.append({"command": "deleteClient", "username": username})
    if role:
        commands.append({"command": "deleteRole", "rolename": role})
    try:
        await dynsec.execute(commands, tolerate=[CLIENT_NOT_FOUND, ROLE_NOT_FOUND])
    except (BrokerUnavailable, DynSecError) as exc:
        log.warning("could not clean up broker identity %s: %s", username or role, exc)


async def forget_device(dynsec: DynSecClient, device_id: str) -> None:
    """Best-effort removal after a failed registration (never raises)."""
    await _quietly_delete(dynsec, device_id, device_role(device_id))


async def ensure_ingest(dynsec: DynSecClient, info: BrokerInfo) -> None:
    """Create or repair the ingest role and client so `info`'s ingest credentials work.

    Idempotent and gentle: a client that already accepts the password is left alone, so
    starting another process never disconnects running ingest workers.
    """
    acls = ingest_acls()
    role_answer, client_answer = await dynsec.execute(
        [
            {"command": "createRole", "rolename": INGEST_ROLE,
             "textname": "Telemed ingest workers", "acls": [a.as_json() for a in acls]},
            {"command": "createClient", "username": info.ingest_username,
             "password": info.ingest_password, "textname": "Telemed ingest workers",
             "roles": [{"rolename": INGEST_ROLE, "priority": 0}]},
        ],
        tolerate=[ROLE_EXISTS, CLIENT_EXISTS],
    )
    if role_answer.error is not None:
        await dynsec.execute(
            [{"command": "addRoleACL", "rolename": INGEST_ROLE, **acl.as_json()} for acl in acls],
            tolerate=[ACL_EXISTS])
    if client_answer.error is None:
        log.info("created broker client %s", info.ingest_username)
        return
    client = await dynsec.get_client(info.ingest_username) or {}
    roles = {str(r.get("rolename")) for r in client.get("roles", []) if isinstance(r, dict)}
    if INGEST_ROLE not in roles:
        await dynsec.add_client_role(info.ingest_username, INGEST_ROLE)
    if client.get("disabled"):
        await dynsec.enable_client(info.ingest_username)
    try:
        works = await can_login(info.host, info.port, info.ingest_username,
                                info.ingest_password, tls=info.tls)
    except (OSError, TimeoutError) as exc:
        raise BrokerUnavailable(f"cannot check the ingest login: {exc}") from exc
    if not works:
        log.info("setting the password of broker client %s", info.ingest_username)
        await dynsec.set_client_password(info.ingest_username, info.ingest_password)
