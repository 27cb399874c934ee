"""The broker package's exceptions share one base, so a command can report any in one line."""

from __future__ import annotations


class BrokerError(Exception):
    """Anything that keeps the platform from using its MQTT broker."""


class BrokerSetupError(BrokerError):
    """The private broker cannot be prepared (missing executable, plugin, bad files)."""


class BrokerStartError(BrokerError):
    """Mosquitto did not start; the message carries its last log lines."""


class BrokerUnavailable(BrokerError):
    """The broker cannot be reached, refused us, or did not answer in time."""


class DynSecError(BrokerError):
    """The broker refused a dynamic-security command; `error` is its own text."""

    def __init__(self, command: str, error: str) -> None:
        super().__init__(f"{command}: {error}")
        self.command = command
        self.error = error
