"""What travels through the ingest pipeline: a received message and its outcome."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from telemed.domain.senml import DecodedPack, Rejection

Kind = Literal["readings", "status"]


@dataclass(slots=True)
class Outcome:
    """What became of one message once its batch is committed."""

    accepted: int = 0
    duplicates: int = 0
    rejections: list[Rejection] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"accepted": self.accepted, "duplicates": self.duplicates,
                "rejected": [r.to_dict() for r in self.rejections]}


@dataclass(slots=True)
class Envelope:
    """One message from a device (MQTT or HTTP), with the callback that settles it.

    ``on_done`` runs after the batch holding the message is committed (MQTT: acknowledge and
    answer on the errors topic; HTTP: complete the response). It never runs for a message
    whose batch did not commit, so the broker redelivers it.
    """

    kind: Kind
    device_id: str
    payload: bytes
    received_at: datetime
    on_done: Callable[[Outcome], None]
    decoded: DecodedPack | None = None
    outcome: Outcome = field(default_factory=Outcome)
    deferrals: int = 0  # batches that left it for later (its patient was busy elsewhere)
    entered_by: str | None = None  # the person who typed the readings in (manual readings)

    @property
    def size(self) -> int:
        """How much work the message is (readings), for batch sizing."""
        return len(self.decoded.readings) if self.decoded is not None else 1
