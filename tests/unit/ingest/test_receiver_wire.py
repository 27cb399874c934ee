"""The frames between the ingest worker and its receiving process: every decoded pack comes
back as it was, and a frame this program did not write is refused, never half-read."""

from __future__ import annotations

import json
import marshal
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemed.domain.senml import decode_pack
from telemed.ingest import receiver_wire as wire
from tests.helpers.senml_strategies import NOW, RECORDS, senml_like


def round_trip(payload: bytes) -> None:
    decoded = decode_pack(payload, NOW)
    data = wire.frame("msgs", [(1, "dev-1", "readings", wire.micros(NOW),
                                wire.pack_body(decoded))])
    assert wire.length(data[:wire.HEADER.size]) == len(data) - wire.HEADER.size
    name, [(token, device, kind, received, body)] = wire.parse(data[wire.HEADER.size:])
    assert (name, token, device, kind) == ("msgs", 1, "dev-1", "readings")
    assert wire.from_micros(received) == NOW
    back = wire.unpack_body(body)
    assert back == decoded
    assert [r.to_dict() for r in back.rejections] == [r.to_dict() for r in decoded.rejections]
    assert all(type(r.value) is float and r.time.tzinfo is UTC for r in back.readings)


@settings(max_examples=400, deadline=None)
@given(st.lists(RECORDS, min_size=1, max_size=6))
def test_a_decoded_pack_crosses_unchanged(records: list[dict[str, Any]]) -> None:
    round_trip(json.dumps(records).encode())


@settings(max_examples=300, deadline=None)
@given(senml_like)
def test_any_pack_and_its_refusals_cross_unchanged(data: Any) -> None:
    round_trip(json.dumps(data).encode())


@pytest.mark.parametrize("payload", [b"\xff\xfe not a pack", b"[" * 900 + b"]" * 900,
                                     b'[{"n":"heart_rate","u":"/min","v":70,"v":180}]'])
def test_refused_packs_cross_with_their_reason(payload: bytes) -> None:
    round_trip(payload)


@given(st.integers(-(2**62), 2**62))
def test_times_cross_to_the_microsecond(offset: int) -> None:
    when = datetime(2026, 12, 7, 22, 0, tzinfo=UTC) + timedelta(microseconds=offset % 10**15)
    assert wire.from_micros(wire.micros(when)) == when


@pytest.mark.parametrize("body", [b"", b"\x00garbage", marshal.dumps([1, 2]),
                                  marshal.dumps(()), marshal.dumps((1, "msgs"))])
def test_a_frame_this_program_did_not_write_is_refused(body: bytes) -> None:
    with pytest.raises(wire.WireError):
        wire.parse(body)


def test_a_frame_longer_than_any_batch_is_refused() -> None:
    with pytest.raises(wire.WireError):
        wire.length(wire.HEADER.pack(wire.MAX_FRAME + 1))
