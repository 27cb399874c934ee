"""FHIR search parameters: parsing of the query string into typed values (pure functions).

Rules (FHIR R4 §3.1.1 "Search"):

- Repeating a parameter ANDs its values; a comma inside one value ORs them (``\\,`` escapes).
- Unknown parameters are ignored (and left out of the ``self`` link) unless the client sends
  ``Prefer: handling=strict``; modifiers (``name:exact``) are not supported and always refused.
- ``_count`` is clamped to 100 (0 returns only ``total``); ``_cursor`` is the opaque paging token
  of a ``next`` link.
- ``total`` is counted up to ``TOTAL_CAP`` matches and left out beyond (FHIR makes it optional),
  so a search costs its page, not the population; ``_total=accurate`` counts them all,
  ``_total=none`` never counts.
- Dates take a prefix (``eq ne gt ge lt le sa eb``; default ``eq``) and are ranges at their
  precision: ``ge2024-01-01`` starts at midnight, ``le2024-01-01`` ends at the next midnight.
  Dates and times without an offset are UTC.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from telemed.api.fhir.common import ID_PATTERN
from telemed.domain.json_input import parse_json
from telemed.domain.text import describe, forbidden_character
from telemed.errors import ApiError
from telemed.services.fhir_rows import DateBound as DateBound  # parsed here, used there
from telemed.services.fhir_rows import DatePrefix
from telemed.services.fhir_rows import TotalMode as TotalMode

ParamType = Literal["reference", "token", "date", "string"]
KeyType = Literal["datetime", "date", "int", "str"]

DEFAULT_COUNT = 50
MAX_VALUE_LENGTH = 1000
MAX_COUNT = 100
CONTROL = frozenset({"_count", "_cursor", "_format", "_pretty", "_total"})
TOTAL_MODES: tuple[TotalMode, ...] = ("none", "estimate", "accurate")
JSON_FORMATS = frozenset({"json", "application/json", "application/fhir+json"})
DATE_PREFIXES: tuple[DatePrefix, ...] = ("eq", "ne", "gt", "ge", "lt", "le", "sa", "eb")

_DATE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?P<f>\.\d+)?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
_ID = re.compile(rf"^{ID_PATTERN}$")
_REFERENCE = re.compile(rf"^(?:.*/)?(?P<type>[A-Z][A-Za-z]+)/(?P<id>{ID_PATTERN})$")


def bad_parameter(message: str, code: str = "invalid_search_parameter") -> ApiError:
    """400 for a search parameter the server understands but cannot accept."""
    return ApiError(400, code, message)


@dataclass(frozen=True)
class SearchParam:
    """A supported search parameter, as declared in the CapabilityStatement."""

    name: str
    type: ParamType
    documentation: str


@dataclass(frozen=True)
class SearchQuery:
    """A parsed search: for each parameter, an AND list of OR lists of raw values."""

    values: Mapping[str, Sequence[Sequence[str]]] = field(default_factory=dict)
    count: int = DEFAULT_COUNT
    cursor: str | None = None
    used: Sequence[tuple[str, str]] = ()
    total: TotalMode | None = None  # `_total`; None: the server's default

    def all_of(self, name: str) -> Sequence[Sequence[str]]:
        """Every occurrence of ``name`` (each one an OR list)."""
        return self.values.get(name, ())

    def has(self, name: str) -> bool:
        return bool(self.values.get(name))


def split_values(raw: str) -> list[str]:
    """Split one parameter value at unescaped commas and unescape ``\\, \\| \\$ \\\\``."""
    parts: list[str] = []
    current: list[str] = []
    chars = iter(raw)
    for char in chars:
        if char == "\\":
            current.append(next(chars, "\\"))
        elif char == ",":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p for p in parts if p != ""]


def prefers_strict(prefer_header: str | None) -> bool:
    """True when the client asked for ``Prefer: handling=strict``."""
    if not prefer_header:
        return False
    tokens = {t.strip().lower().replace(" ", "") for t in prefer_header.split(",")}
    return "handling=strict" in tokens


def _parse_count(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise bad_parameter("_count must be a whole number from 0 to 100.")
    return min(int(raw), MAX_COUNT)


def parse_search(
    items: Iterable[tuple[str, str]],
    supported: Mapping[str, SearchParam],
    *,
    strict: bool = False,
) -> SearchQuery:
    """Read a query string against the supported parameters (400 on values it cannot use)."""
    values: dict[str, list[list[str]]] = {}
    used: list[tuple[str, str]] = []
    count = DEFAULT_COUNT
    cursor: str | None = None
    total: TotalMode | None = None
    for key, raw in items:
        bad = forbidden_character(key) or forbidden_character(raw)
        if bad is not None or len(raw) > MAX_VALUE_LENGTH:
            raise bad_parameter(
                f"A search parameter holds a control or bidi character ({describe(bad)})."
                if bad is not None else
                f"A search parameter value is longer than {MAX_VALUE_LENGTH} characters.")
        name, _, modifier = key.partition(":")
        if name not in supported and name not in CONTROL:
            if strict:
                raise bad_parameter(f"Search parameter {name!r} is not supported.",
                                    "unsupported_search_parameter")
            continue
        if modifier:
            raise bad_parameter(f"The modifier :{modifier} of {name!r} is not supported.",
                                "unsupported_modifier")
        if name == "_count":
            count = _parse_count(raw)
        elif name == "_cursor":
            cursor = raw or None
        elif name == "_total":
            total = next((mode for mode in TOTAL_MODES if mode == raw), None)
            if total is None:
                raise bad_parameter("_total must be none, estimate or accurate.")
            used.append((name, raw))  # kept in the self and next links
        elif name == "_format":
            if raw.split(";")[0].strip().lower() not in JSON_FORMATS:
                raise ApiError(406, "not_acceptable", "This server speaks JSON only.")
        elif name == "_pretty":
            continue
        else:
            parts = split_values(raw)
            if not parts:
                continue  # an empty parameter is ignored
            values.setdefault(name, []).append(parts)
            used.append((name, raw))
    return SearchQuery(values=values, count=count, cursor=cursor, used=used, total=total)


# --- references ---------------------------------------------------------------------------


def parse_reference(value: str, kind: str = "Patient") -> str:
    """The id of a ``kind`` reference given as ``id``, ``Kind/id`` or an absolute URL."""
    if _ID.match(value):
        return value
    match = _REFERENCE.match(value)
    if match is None:
        raise bad_parameter(f"{value!r} is not a reference to a {kind}.")
    if match["type"] != kind:
        raise bad_parameter(f"{value!r} does not reference a {kind}.")
    return match["id"]


def reference_ids(query: SearchQuery, names: Sequence[str], kind: str = "Patient") -> (
    list[str] | None
):
    """The ids that satisfy every occurrence of the reference parameters ``names``.

    None when none of them is present; AND across occurrences is an intersection.
    """
    result: list[str] | None = None
    for name in names:
        for alternatives in query.all_of(name):
            ids = list(dict.fromkeys(parse_reference(v, kind) for v in alternatives))
            result = ids if result is None else [i for i in result if i in ids]
    return result


# --- tokens -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    """A token value: ``code``, ``system|code``, ``|code`` (no system) or ``system|``."""

    system: str | None  # None: any system; "": explicitly no system
    code: str | None  # None: any code of the system

    def matches(self, system: str | None, code: str) -> bool:
        if self.code is not None and self.code != code:
            return False
        if self.system is None:
            return True
        return self.system == (system or "")


def parse_token(value: str) -> Token:
    """A token search value."""
    if "|" not in value:
        return Token(system=None, code=value)
    system, _, code = value.partition("|")
    if not system and not code:
        raise bad_parameter("A token needs a system, a code or both.")
    return Token(system=system, code=code or None)


def token_codes(alternatives: Sequence[str]) -> list[str]:
    """The codes of OR-ed token values (for code-only parameters such as ``status``)."""
    return [t.code for t in map(parse_token, alternatives) if t.code is not None]


# --- dates --------------------------------------------------------------------------------


def _add_months(value: datetime, months: int) -> datetime:
    index = value.month - 1 + months
    return value.replace(year=value.year + index // 12, month=index % 12 + 1)


def parse_date(raw: str) -> DateBound:
    """A date search value such as ``ge2024-01-31`` or ``lt2024-01-31T08:00:00+01:00``."""
    prefix: DatePrefix = "eq"
    text = raw.strip()
    for candidate in DATE_PREFIXES:
        if text.startswith(candidate):
            prefix, text = candidate, text[len(candidate):]
            break
    else:
        if text[:2].isalpha():
            raise bad_parameter(f"Date prefix {text[:2]!r} is not supported.")
    match = _DATE.match(text.replace(" ", "+"))  # an unencoded '+' arrives as a space
    if match is None:
        raise bad_parameter(f"{raw!r} is not a FHIR date or dateTime.")
    try:
        return _date_range(prefix, match.groupdict())
    except (ValueError, OverflowError):  # impossible dates, or ranges beyond year 1..9999
        raise bad_parameter(f"{raw!r} is not a valid date.") from None


def _date_range(prefix: DatePrefix, parts: dict[str, str | None]) -> DateBound:
    tz = parts["tz"]
    zone = UTC if tz in (None, "Z") else datetime.strptime(tz, "%z").tzinfo
    start = datetime(int(parts["y"] or 0), int(parts["m"] or 1), int(parts["d"] or 1),
                     int(parts["H"] or 0), int(parts["M"] or 0), int(parts["S"] or 0),
                     tzinfo=zone)
    if parts["f"]:
        digits = parts["f"][1:7]
        start = start.replace(microsecond=int(digits.ljust(6, "0")))
        end = start + timedelta(microseconds=10 ** (6 - len(digits)))
    elif parts["S"]:
        end = start + timedelta(seconds=1)
    elif parts["M"]:
        end = start + timedelta(minutes=1)
    elif parts["d"]:
        end = start + timedelta(days=1)
    elif parts["m"]:
        end = _add_months(start, 1)
    else:
        end = start.replace(year=start.year + 1)
    return DateBound(prefix=prefix, start=start.astimezone(UTC), end=end.astimezone(UTC))


def date_bounds(query: SearchQuery, name: str = "date") -> list[list[DateBound]]:
    """Every occurrence of a date parameter, parsed (AND of OR lists)."""
    return [[parse_date(v) for v in alternatives] for alternatives in query.all_of(name)]


# --- paging cursors -----------------------------------------------------------------------


def encode_cursor(kind: str, key: Sequence[Any]) -> str:
    """An opaque cursor: the resource type and the sort key of the last entry of a page."""
    values = [v.isoformat() if isinstance(v, date | datetime) else v for v in key]
    raw = json.dumps([kind, *values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _convert(value: Any, kind: KeyType) -> Any:
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63:
            return value
        raise ValueError
    if not isinstance(value, str) or forbidden_character(value) is not None:
        raise ValueError
    if kind == "datetime":
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError
        return parsed
    if kind == "date":
        return date.fromisoformat(value)
    return value


def decode_cursor(raw: str, kind: str, types: Sequence[KeyType]) -> list[Any]:
    """The sort key of a cursor made by :func:`encode_cursor`; 400 when it is not one."""
    try:
        data = parse_json(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)), max_depth=1)
        if not isinstance(data, list) or len(data) != len(types) + 1 or data[0] != kind:
            raise ValueError
        return [_convert(v, t) for v, t in zip(data[1:], types, strict=True)]
    except (ValueError, TypeError):
        raise bad_parameter("_cursor is not valid for this search.", "invalid_cursor") from None
