"""What the ingest worker and its receiving process say to each other, and how.

Frames on a pipe: a 4-byte big-endian length, then a `marshal`-ed tuple whose first item
names it. Both ends are this program (the same interpreter: `marshal`'s format is private to
a Python version), and nothing a device sent is in a frame except as values the receiver
already decoded (numbers, short strings) or a status message's bytes.

The receiver sends ``("msgs", [message, ...])`` and ``("state", connected)``; the worker
sends ``("init", config)`` once, then ``("settle", [(token, errors), ...])``,
``("publish", [(topic, text), ...], retain)`` and ``("stop",)``.
A message is ``(token, device_id, kind, received_us, body)``: for ``readings`` the body is
the decoded pack (`pack_body`), for ``status`` the payload.
"""

from __future__ import annotations

import marshal
import struct
from datetime import UTC, datetime, timedelta
from typing import Any

from telemed.domain.senml import DecodedPack, Reading, Rejection

HEADER = struct.Struct(">I")
MAX_FRAME = 256 * 1024 * 1024  # a frame holds at most the broker's receive maximum of packs
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_PRIMITIVE = (str, int, float, bool, type(None))

Frame = tuple[Any, ...]
ReadingRow = tuple[str, float, str, int, int, bool]
RejectionRow = tuple[int | None, str, str, dict[str, object]]
PackBody = tuple[list[ReadingRow], list[RejectionRow]]


class WireError(Exception):
    """A frame that this program did not write (a bug, or the other end died mid-write)."""


def frame(*items: Any) -> bytes:
    """One frame of ``items``."""
    body = marshal.dumps(items)
    return HEADER.pack(len(body)) + body


def parse(body: bytes) -> Frame:
    """The tuple of one frame's body."""
    try:
        items = marshal.loads(body)
    except (EOFError, ValueError, TypeError) as exc:
        raise WireError(f"unreadable frame: {exc}") from exc
    if not isinstance(items, tuple) or not items or not isinstance(items[0], str):
        raise WireError("a frame is a tuple that starts with its name")
    return items


def length(header: bytes) -> int:
    """The body's length announced by a frame's header."""
    (size,) = HEADER.unpack(header)
    if size > MAX_FRAME:
        raise WireError(f"frame of {size} bytes")
    return int(size)


def micros(when: datetime) -> int:
    """An aware time as whole microseconds since the epoch (exact)."""
    return (when - EPOCH) // _MICROSECOND


def from_micros(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


def _params(params: Any) -> dict[str, object]:
    return {str(k): v if isinstance(v, _PRIMITIVE) else str(v) for k, v in params.items()}


def pack_body(decoded: DecodedPack) -> PackBody:
    """A decoded pack as plain values."""
    return ([(r.metric, r.value, r.unit, (r.time - EPOCH) // _MICROSECOND, r.record_index,
              r.late) for r in decoded.readings],
            [(r.record_index, r.code, r.message, _params(r.params))
             for r in decoded.rejections])


def unpack_body(body: PackBody) -> DecodedPack:
    """The decoded pack that `pack_body` was given."""
    rows, refused = body
    epoch = EPOCH
    return DecodedPack(
        [Reading(metric, value, unit, epoch + timedelta(microseconds=time), index, late)
         for metric, value, unit, time, index, late in rows],
        [Rejection(index, code, message, params) for index, code, message, params in refused])
