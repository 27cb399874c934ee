"""SenML JSON packs (RFC 8428) from home devices: decoding, validation, encoding.

``decode_pack`` never raises on bad input: it returns the readings it could accept and a
rejection (``code``, English ``message`` template, ``params``) for everything else.
A whole-pack problem (not UTF-8, not JSON, not an array, empty, too large, an unsupported
``bver``, an unknown must-understand field ending in ``_``, a base field of the wrong type)
rejects every record: it comes back as the only rejection, with ``record_index=None``.

Resolution follows the RFC: base fields ``bn bt bu bv bs bver`` apply to their record and
every later one until replaced; name = ``bn + n``; time = ``bt + t``; value = ``bv + v``;
a time below 2**28 is relative to the receive time. Names must match
``[A-Za-z0-9][A-Za-z0-9-:./_]*``; the metric is the name's last segment after a ``:`` or
``/`` (``urn:dev:mac:0024befffe804ff1:`` + ``spo2`` → ``spo2``; ``device123/`` +
``heart_rate`` → ``heart_rate``). Only numeric ``v`` values are readings. The same metric at
the same time twice in one pack keeps the first record.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from telemed.domain.errors import render_template
from telemed.domain.json_input import JsonInputError, finite_number, parse_json
from telemed.domain.units import MetricInfo, UnitError, metric_info, to_canonical

SUPPORTED_VERSION = 10
RELATIVE_TIME_LIMIT = 2**28
DEFAULT_MAX_RECORDS = 1000
DEFAULT_MAX_BYTES = 256 * 1024
DEFAULT_MAX_FUTURE = timedelta(minutes=5)
DEFAULT_MAX_AGE = timedelta(days=30)
DEFAULT_LATE_AFTER = timedelta(minutes=10)
MAX_DEPTH = 8  # a pack is an array of flat records: depth 2; room for extension fields

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-:./_]*$")
_SEGMENT_RE = re.compile(r"[:/]")
_VALUE_FIELDS = ("v", "vs", "vb", "vd")
_ONLY_V = ["v"]  # the value fields of a record with a numeric value only (read, never changed)


def _is_string(value: object) -> bool:
    return isinstance(value, str)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_bool(value: object) -> bool:
    return isinstance(value, bool)


def _is_version(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


_Check = tuple[str, Callable[[object], bool]]
_STRING: _Check = ("a string", _is_string)
_NUMBER: _Check = ("a number", _is_number)
_BASE_FIELDS: dict[str, _Check] = {"bn": _STRING, "bt": _NUMBER, "bu": _STRING, "bv": _NUMBER,
                                   "bs": _NUMBER, "bver": ("a positive integer", _is_version)}
_REGULAR_FIELDS: dict[str, _Check] = {
    "n": _STRING, "u": _STRING, "v": _NUMBER, "vs": _STRING, "vb": ("true or false", _is_bool),
    "vd": _STRING, "s": _NUMBER, "t": _NUMBER, "ut": _NUMBER,
}
_REGULAR_KEYS = frozenset(_REGULAR_FIELDS)


@dataclass(frozen=True, slots=True)
class Reading:
    """An accepted reading: value in the metric's canonical unit, time aware UTC."""

    metric: str
    value: float
    unit: str
    time: datetime
    record_index: int
    late: bool = False


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a record (or, with ``record_index=None``, the whole pack) was refused."""

    record_index: int | None
    code: str
    message: str
    params: Mapping[str, object] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    def render(self) -> str:
        """The English message with its parameters filled in."""
        return render_template(self.message, self.params)

    def to_dict(self) -> dict[str, object]:
        """Payload of the device ``errors`` topic: ``{"code", "message", "record_index"}``."""
        return {"code": self.code, "message": self.render(), "record_index": self.record_index}


@dataclass(frozen=True, slots=True)
class DecodedPack:
    """Accepted readings and rejections of one pack."""

    readings: list[Reading]
    rejections: list[Rejection]

    @property
    def pack_error(self) -> Rejection | None:
        """The whole-pack rejection, if the pack was refused as a whole."""
        if len(self.rejections) == 1 and self.rejections[0].record_index is None:
            return self.rejections[0]
        return None


class _PackError(Exception):
    def __init__(self, code: str, message: str, **params: object) -> None:
        super().__init__(code)
        self.rejection = Rejection(None, code, message, params)


class _RecordError(Exception):
    def __init__(self, code: str, message: str, params: Mapping[str, object]) -> None:
        super().__init__(code)
        self.code, self.message, self.params = code, message, params


def _reject(code: str, message: str, **params: object) -> _RecordError:
    return _RecordError(code, message, params)


def metric_of(name: str) -> str:
    """The metric a record name stands for: its last ``:``- or ``/``-separated segment."""
    return _SEGMENT_RE.split(name)[-1]


def _load(payload: bytes | str, max_bytes: int, max_records: int) -> list[Any]:
    if isinstance(payload, str):
        payload = payload.encode("utf-8", "surrogatepass")
    if len(payload) > max_bytes:
        raise _PackError("pack_too_large",
                         "The payload has {size} bytes; at most {max} are accepted.",
                         size=len(payload), max=max_bytes)
    try:
        text = bytes(payload).decode("utf-8")
    except UnicodeDecodeError:
        raise _PackError("not_utf8", "The payload is not UTF-8 text.") from None
    try:
        data = parse_json(text, max_depth=MAX_DEPTH, finite=False)
    except JsonInputError as exc:
        if exc.code == "invalid_json":
            raise _PackError("invalid_json", "The payload is not valid JSON.") from None
        # too deep stays invalid_json; invalid_unicode (a lone surrogate), duplicate_key
        code = "invalid_json" if exc.code == "too_deep" else exc.code
        raise _PackError(code, "The payload is not acceptable JSON: {reason}",
                         reason=exc.message) from None
    if not isinstance(data, list):
        raise _PackError("not_an_array", "A SenML pack is a JSON array of records.")
    if not data:
        raise _PackError("empty_pack", "The pack has no records.")
    if len(data) > max_records:
        raise _PackError("too_many_records",
                         "The pack has {count} records; at most {max} are accepted.",
                         count=len(data), max=max_records)
    return data


def _check_pack_fields(records: list[Any]) -> None:
    """Whole-pack rules: must-understand fields, version, base field types."""
    for index, record in enumerate(records):
        if not isinstance(record, dict) or record.keys() <= _REGULAR_KEYS:
            continue  # no base field, no must-understand field: nothing to check here
        for key, value in record.items():
            if key.endswith("_"):
                raise _PackError(
                    "unknown_mandatory_field",
                    'Record {record_index} has the field "{field}", which must be understood '
                    "but is not supported.", record_index=index, field=key)
            if key in _BASE_FIELDS:
                expected, check = _BASE_FIELDS[key]
                if not check(value) or (check is _is_number and finite_number(value) is None):
                    raise _PackError(
                        "invalid_base_field",
                        'Record {record_index}: the base field "{field}" must be {expected}.',
                        record_index=index, field=key, expected=expected)
        version = record.get("bver")
        if version is not None and version > SUPPORTED_VERSION:
            raise _PackError(
                "unsupported_version",
                "Record {record_index} uses SenML version {version}; at most {supported} is "
                "supported.", record_index=index, version=version, supported=SUPPORTED_VERSION)


@dataclass(slots=True)
class _Base:
    name: str = ""
    time: float = 0.0
    unit: str | None = None
    value: float = 0.0
    offset: timedelta | None = timedelta(0)  # ``time`` as a timedelta (None: too large)

    def update(self, record: Mapping[str, Any]) -> None:
        if "bn" in record:
            self.name = record["bn"]
        if "bt" in record:
            self.time = float(record["bt"])
            try:
                self.offset = timedelta(seconds=self.time)
            except OverflowError:
                self.offset = None  # refused as invalid_time by the records that use it
        if "bu" in record:
            self.unit = record["bu"]
        if "bv" in record:
            self.value = float(record["bv"])


class _Limits:
    """The acceptance window of one pack (plain slots: built for every pack)."""

    __slots__ = ("late_after", "max_age_s", "max_future_s", "received_at", "received_ts")

    def __init__(self, received_at: datetime, max_future: timedelta, max_age: timedelta,
                 late_after: timedelta) -> None:
        self.received_at = received_at
        self.received_ts = received_at.timestamp()
        self.max_future_s = max_future.total_seconds()
        self.max_age_s = max_age.total_seconds()
        self.late_after = late_after


def _resolve_time(base: _Base, t: float, limits: _Limits) -> datetime:
    total = base.time + t
    if not math.isfinite(total):
        raise _reject("invalid_time", "The time is not a finite number.")
    relative = total < RELATIVE_TIME_LIMIT
    offset = total if relative else total - limits.received_ts
    if offset > limits.max_future_s:
        raise _reject("future_time",
                      "The time is {seconds} s in the future; at most {max} s ahead is "
                      "accepted.", seconds=round(offset), max=round(limits.max_future_s))
    if offset < -limits.max_age_s:
        raise _reject("too_old", "The reading is older than {days} days.",
                      days=int(limits.max_age_s // 86_400))
    origin = limits.received_at if relative else _EPOCH
    try:
        if base.offset is None:
            raise OverflowError
        return origin + base.offset + timedelta(seconds=t)
    except OverflowError:
        raise _reject("invalid_time", "The time is not a finite number.") from None


@functools.lru_cache(maxsize=1024)
def _metric_named(name: str) -> tuple[str, MetricInfo]:
    """The metric a record name stands for and its description (names repeat: cached)."""
    if not _NAME_RE.match(name):
        raise _reject("invalid_name",
                      'The name "{name}" is not valid: use letters, digits and - : . / _, '
                      "starting with a letter or digit.", name=name)
    metric = metric_of(name)
    return metric, metric_info(metric)  # UnitError unknown_metric


_PLAIN_KEYS = frozenset({"n", "u", "v", "t", *_BASE_FIELDS})
_NUMBER_TYPES = (int, float)  # exactly: JSON gives no subclasses, and bool is not a number


def _decode_plain(record: dict[str, Any], base: _Base, limits: _Limits,
                  index: int) -> Reading | None:
    """The common record (a name, a unit, a numeric ``v``, a time; base fields already
    applied) decoded without the general path's checks of each field; None when the record
    is anything else or refused, for the general path to decode it and word the refusal.
    The same readings as the general path (a property test in tests/unit/domain says so)."""
    if base.value or not record.keys() <= _PLAIN_KEYS:
        return None
    name, unit = record.get("n", ""), record.get("u", base.unit)
    value: Any = record.get("v")
    t: Any = record.get("t", 0)
    if (type(name) is not str or type(unit) is not str or type(value) not in _NUMBER_TYPES
            or type(t) not in _NUMBER_TYPES):
        return None
    try:
        metric, info = _metric_named(base.name + name)
        conversion = info.units.get(unit)
        if conversion is None:
            return None
        canonical = conversion.to_canonical(float(value))
        if not info.is_plausible(canonical):
            return None
        at = _resolve_time(base, float(t), limits)
    except (_RecordError, UnitError, OverflowError):
        return None
    return Reading(metric, canonical, info.canonical_unit, at, index,
                   late=limits.received_at - at > limits.late_after)


def _decode_record(record: object, base: _Base, limits: _Limits, index: int) -> Reading:
    if isinstance(record, dict):
        plain = _decode_plain(record, base, limits, index)
        if plain is not None:
            return plain
    return _decode_general(record, base, limits, index)


def _decode_general(record: object, base: _Base, limits: _Limits, index: int) -> Reading:
    """Any record, every field checked in a fixed order (the first problem is the refusal)."""
    if not isinstance(record, dict):
        raise _reject("record_not_object", "Each record must be a JSON object.")
    for key, value in record.items():
        check = _REGULAR_FIELDS.get(key)
        if check is not None and not check[1](value):
            # the first invalid field in the order of _REGULAR_FIELDS, as always
            for key, (expected, test) in _REGULAR_FIELDS.items():
                if key in record and not test(record[key]):
                    raise _reject("invalid_field", 'The field "{field}" must be {expected}.',
                                  field=key, expected=expected)
    metric, info = _metric_named(base.name + record.get("n", ""))
    values = (_ONLY_V if "v" in record and "vs" not in record and "vb" not in record
              and "vd" not in record else [key for key in _VALUE_FIELDS if key in record])
    if len(values) > 1:
        raise _reject("multiple_values", "A record carries only one of v, vs, vb, vd.")
    if not values:
        raise _reject("missing_value", "The record has no numeric value (v).")
    if values[0] != "v":
        raise _reject("non_numeric_value",
                      'Only numeric values (v) are accepted for {metric}; this record has '
                      '"{field}".', metric=metric, field=values[0])
    sent = record["v"]  # kept as sent when there is no bv, so messages show 97, not 97.0
    if base.value:
        finite = finite_number(sent)
        sent = finite + base.value if finite is not None else math.nan
    value = to_canonical(metric, sent, record.get("u", base.unit))
    t = finite_number(record.get("t", 0))
    if t is None:
        raise _reject("invalid_time", "The time is not a finite number.")
    at = _resolve_time(base, t, limits)
    return Reading(metric, value, info.canonical_unit, at, index,
                   late=limits.received_at - at > limits.late_after)


def decode_pack(
    payload: bytes | str,
    received_at: datetime,
    *,
    max_records: int = DEFAULT_MAX_RECORDS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    late_after: timedelta = DEFAULT_LATE_AFTER,
    max_age: timedelta = DEFAULT_MAX_AGE,
    max_future: timedelta = DEFAULT_MAX_FUTURE,
) -> DecodedPack:
    """Decode a SenML JSON pack received at ``received_at`` (aware); never raises on input.

    A reading more than ``late_after`` older than ``received_at`` is marked late; older than
    ``max_age`` or more than ``max_future`` ahead it is rejected.
    """
    if received_at.tzinfo is None or received_at.utcoffset() is None:
        raise ValueError("received_at must be timezone-aware")
    limits = _Limits(received_at.astimezone(UTC), max_future, max_age, late_after)
    try:
        records = _load(payload, max_bytes, max_records)
        _check_pack_fields(records)
    except _PackError as exc:
        return DecodedPack([], [exc.rejection])

    readings: list[Reading] = []
    rejections: list[Rejection] = []
    seen: dict[tuple[str, datetime], int] = {}
    base = _Base()
    for index, record in enumerate(records):
        if isinstance(record, dict):
            base.update(record)
        try:
            reading = _decode_record(record, base, limits, index)
        except _RecordError as exc:
            rejections.append(Rejection(index, exc.code, exc.message, exc.params))
            continue
        except UnitError as exc:
            error = exc.errors[0]
            rejections.append(Rejection(index, error.code, error.message, error.params))
            continue
        key = (reading.metric, reading.time)
        if key in seen:
            rejections.append(Rejection(
                index, "duplicate_reading",
                "Record {first_index} already has {metric} at this time.",
                {"first_index": seen[key], "metric": reading.metric}))
            continue
        seen[key] = index
        readings.append(reading)
    return DecodedPack(readings, rejections)


def _epoch_seconds(at: datetime) -> float:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("reading times must be timezone-aware")
    return (at - _EPOCH).total_seconds()


def encode_pack(
    readings: Iterable[tuple[str, float, str, datetime]], *, base_name: str | None = None
) -> bytes:
    """A compact SenML JSON pack of ``(metric, value, unit, time)`` tuples, for devices.

    The first record carries ``bn`` (if given) and ``bt`` (whole epoch seconds of the first
    reading); every record carries ``n``, ``u``, ``v`` and, when not zero, ``t`` relative to
    ``bt``. Raises ``ValueError`` for an unknown metric or unit or a naive time.
    """
    records: list[dict[str, Any]] = []
    base_time: int | None = None
    for metric, value, unit, at in readings:
        info = metric_info(metric)
        if unit not in info.units:
            raise ValueError(f"unit {unit!r} is not accepted for {metric}")
        seconds = _epoch_seconds(at)
        record: dict[str, Any] = {}
        if base_time is None:
            base_time = math.floor(seconds)
            if base_name:
                record["bn"] = base_name
            record["bt"] = base_time
        record.update(n=metric, u=unit, v=value)
        offset = round(seconds - base_time, 6)
        if offset:
            record["t"] = offset
        records.append(record)
    if not records:
        raise ValueError("a SenML pack needs at least one reading")
    return json.dumps(records, separators=(",", ":"), allow_nan=False).encode()
