"""The private broker's files under DATA_DIR/broker: mosquitto.conf, dynsec.json, credentials.

Everything here is synchronous file work; callers run it off the event loop
(`asyncio.to_thread`). The directory is 0700 and the secrets 0600.
"""

from __future__ import annotations

import base64
import glob
import hashlib
import json
import os
import pwd
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telemed.broker.errors import BrokerSetupError
from telemed.broker.info import BrokerInfo
from telemed.broker.topics import CONTROL_TOPIC, INGEST_USERNAME

ADMIN_USERNAME = "telemed-admin"
ADMIN_ROLE = "telemed-admin"
PBKDF2_ITERATIONS = 1000
PLUGIN_NAME = "mosquitto_dynamic_security.so"
PLUGIN_GLOBS = (
    "/usr/lib/*/mosquitto_dynamic_security.so",
    "/usr/lib/mosquitto_dynamic_security.so",
    "/usr/lib64/mosquitto_dynamic_security.so",
    "/usr/local/lib/mosquitto_dynamic_security.so",
    "/usr/local/lib/*/mosquitto_dynamic_security.so",
    "/opt/homebrew/lib/mosquitto_dynamic_security.so",
)
MOSQUITTO_PLACES = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto",
                    "/opt/homebrew/sbin/mosquitto")

# Broker defaults refuse everything a client's roles do not allow explicitly.
DEFAULT_ACL_ACCESS = {
    "publishClientSend": False,
    "publishClientReceive": True,
    "subscribe": False,
    "unsubscribe": True,
}


def find_mosquitto(configured: str) -> str:
    """The mosquitto executable: the setting if it resolves, else Debian's /usr/sbin one."""
    found = shutil.which(configured)
    if found:
        return found
    if configured == "mosquitto":
        for place in MOSQUITTO_PLACES:
            if os.access(place, os.X_OK):
                return place
    raise BrokerSetupError(
        f"mosquitto not found ({configured!r}): install the Debian package `mosquitto` or set "
        "TELEMED_MOSQUITTO_BIN"
    )


def find_plugin(configured: str) -> str:
    """The dynamic-security plugin: the setting, or the first match in the usual places."""
    if configured:
        if not Path(configured).is_file():
            raise BrokerSetupError(f"TELEMED_MOSQUITTO_PLUGIN: {configured} does not exist")
        return configured
    for pattern in PLUGIN_GLOBS:
        matches = sorted(glob.glob(pattern))
        if matches:
            return matches[0]
    raise BrokerSetupError(
        f"{PLUGIN_NAME} not found: install the Debian package `mosquitto` (2.0 or later) or set "
        "TELEMED_MOSQUITTO_PLUGIN"
    )


def pbkdf2_entry(password: str, iterations: int = PBKDF2_ITERATIONS) -> dict[str, Any]:
    """The password fields of a dynsec.json client (PBKDF2-SHA512, as Mosquitto checks it)."""
    salt = secrets.token_bytes(12)
    key = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return {
        "password": base64.b64encode(key).decode(),
        "salt": base64.b64encode(salt).decode(),
        "iterations": iterations,
    }


def pbkdf2_matches(entry: dict[str, Any], password: str) -> bool:
    """True when a dynsec.json client entry holds `password`."""
    try:
        salt = base64.b64decode(entry["salt"])
        key = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, int(entry["iterations"]))
        return secrets.compare_digest(base64.b64encode(key).decode(), entry["password"])
    except (KeyError, TypeError, ValueError):
        return False


def _admin_role() -> dict[str, Any]:
    control = CONTROL_TOPIC.rsplit("/", 1)[0] + "/#"
    return {
        "rolename": ADMIN_ROLE,
        "textname": "Telemed platform: dynamic-security administration",
        "acls": [
            {"acltype": kind, "topic": control, "priority": 0, "allow": True}
            for kind in ("publishClientSend", "publishClientReceive", "subscribePattern",
                         "unsubscribePattern")
        ],
    }


def _write_private(path: Path, text: str) -> None:
    """Write a 0600 file atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


@dataclass(frozen=True)
class PrivateBrokerFiles:
    """The files of a private Mosquitto living in `directory`."""

    directory: Path

    @property
    def conf(self) -> Path:
        return self.directory / "mosquitto.conf"

    @property
    def dynsec(self) -> Path:
        return self.directory / "dynsec.json"

    @property
    def credentials(self) -> Path:
        return self.directory / "credentials.json"

    @property
    def pid_file(self) -> Path:
        return self.directory / "mosquitto.pid"

    def load_info(self, host: str, port: int) -> BrokerInfo:
        """The BrokerInfo of an already prepared private broker (for other processes)."""
        try:
            creds = json.loads(self.credentials.read_text())
            return BrokerInfo(
                host=host, port=port, tls=False,
                admin_username=creds["admin_username"], admin_password=creds["admin_password"],
                ingest_username=INGEST_USERNAME, ingest_password=creds["ingest_password"],
                private=True,
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BrokerSetupError(
                f"no usable private broker credentials in {self.credentials}: run `telemed "
                "serve` once (it creates them)"
            ) from exc

    def prepare(self, *, host: str, port: int, plugin: str) -> BrokerInfo:
        """Create or repair the directory, credentials, dynsec.json and mosquitto.conf."""
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        try:
            info = self.load_info(host, port)
        except BrokerSetupError:
            info = BrokerInfo(
                host=host, port=port, tls=False,
                admin_username=ADMIN_USERNAME, admin_password=secrets.token_urlsafe(32),
                ingest_username=INGEST_USERNAME, ingest_password=secrets.token_urlsafe(32),
                private=True,
            )
            _write_private(self.credentials, json.dumps({
                "admin_username": info.admin_username,
                "admin_password": info.admin_password,
                "ingest_password": info.ingest_password,
            }, indent=2))
        self._ensure_dynsec(info.admin_username, info.admin_password)
        self.conf.write_text(self.render_conf(host=host, port=port, plugin=plugin))
        return info

    def _ensure_dynsec(self, admin: str, password: str) -> None:
        """dynsec.json with our admin client holding `password` (created or repaired)."""
        data: dict[str, Any]
        try:
            data = json.loads(self.dynsec.read_text())
            if not isinstance(data, dict):
                raise ValueError("not an object")
        except FileNotFoundError:
            data = {"clients": [], "roles": [], "groups": [],
                    "defaultACLAccess": dict(DEFAULT_ACL_ACCESS)}
        except (OSError, ValueError) as exc:
            raise BrokerSetupError(f"{self.dynsec} is not valid JSON: {exc}") from exc
        clients: list[dict[str, Any]] = data.setdefault("clients", [])
        roles: list[dict[str, Any]] = data.setdefault("roles", [])
        changed = False
        if not any(role.get("rolename") == ADMIN_ROLE for role in roles):
            roles.append(_admin_role())
            changed = True
        client = next((c for c in clients if c.get("username") == admin), None)
        if client is None:
            client = {"username": admin, "textname": "Telemed platform administrator",
                      "roles": [{"rolename": ADMIN_ROLE}]}
            clients.append(client)
            changed = True
        if not pbkdf2_matches(client, password):
            client.update(pbkdf2_entry(password))
            changed = True
        if client.pop("disabled", False):
            changed = True
        if not any(r.get("rolename") == ADMIN_ROLE for r in client.setdefault("roles", [])):
            client["roles"].append({"rolename": ADMIN_ROLE})
            changed = True
        if changed or not self.dynsec.exists():
            _write_private(self.dynsec, json.dumps(data, indent=1))

    def render_conf(self, *, host: str, port: int, plugin: str) -> str:
        """mosquitto.conf of the private broker."""
        user = pwd.getpwuid(os.geteuid()).pw_name
        return "\n".join([
            "# Written by Telemed at every start of `telemed serve`; edits are overwritten.",
            f"user {user}",
            "per_listener_settings false",
            f"listener {port} {host}",
            "allow_anonymous false",
            f"plugin {plugin}",
            f"plugin_opt_config_file {self.dynsec}",
            "persistence true",
            f"persistence_location {self.directory}/",
            "persistence_file mosquitto.db",
            "autosave_interval 10",
            # A stopped ingest worker's persistent session must keep what devices send.
            "max_queued_messages 500000",
            "max_inflight_messages 100",
            "set_tcp_nodelay true",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_timestamp false",
            "",
        ])
