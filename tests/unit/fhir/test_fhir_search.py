"""FHIR search parameter parsing: values, prefixes, date precision, references, cursors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from telemed.api.fhir.search import (
    MAX_COUNT,
    KeyType,
    SearchParam,
    Token,
    decode_cursor,
    encode_cursor,
    parse_date,
    parse_reference,
    parse_search,
    parse_token,
    prefers_strict,
    reference_ids,
    split_values,
    token_codes,
)
from telemed.errors import ApiError

PARAMS = {
    "patient": SearchParam("patient", "reference", ""),
    "code": SearchParam("code", "token", ""),
    "date": SearchParam("date", "date", ""),
}


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0,
        second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_values_split_at_unescaped_commas() -> None:
    assert split_values("a,b") == ["a", "b"]
    assert split_values(r"a\,b,c") == ["a,b", "c"]
    assert split_values(r"x\|y") == ["x|y"]
    assert split_values(",a,,") == ["a"]
    assert split_values("") == []


def test_parse_search_collects_and_of_ors() -> None:
    query = parse_search([("patient", "p1"), ("date", "ge2026-01-01"), ("date", "le2026-02-01"),
                          ("code", "8867-4,9279-1"), ("_count", "10")], PARAMS)
    assert query.all_of("date") == [["ge2026-01-01"], ["le2026-02-01"]]
    assert query.all_of("code") == [["8867-4", "9279-1"]]
    assert query.count == 10
    assert query.cursor is None
    assert list(query.used) == [("patient", "p1"), ("date", "ge2026-01-01"),
                                ("date", "le2026-02-01"), ("code", "8867-4,9279-1")]


def test_unknown_parameters_are_ignored_unless_strict() -> None:
    lenient = parse_search([("paitent", "p1"), ("_sort", "date"), ("patient", "")], PARAMS)
    assert lenient.values == {}
    assert list(lenient.used) == []
    with pytest.raises(ApiError) as exc:
        parse_search([("paitent", "p1")], PARAMS, strict=True)
    assert exc.value.status == 400
    assert prefers_strict("return=minimal, handling=strict")
    assert not prefers_strict("handling=lenient")
    assert not prefers_strict(None)


def test_modifiers_are_refused() -> None:
    with pytest.raises(ApiError) as exc:
        parse_search([("code:text", "heart")], PARAMS)
    assert exc.value.status == 400
    assert exc.value.code == "unsupported_modifier"


@pytest.mark.parametrize(("raw", "count"), [("0", 0), ("1", 1), ("100", 100), ("5000", MAX_COUNT)])
def test_count_is_clamped(raw: str, count: int) -> None:
    assert parse_search([("_count", raw)], PARAMS).count == count


@pytest.mark.parametrize("raw", ["-1", "ten", "1.5", ""])
def test_bad_count_is_refused(raw: str) -> None:
    with pytest.raises(ApiError) as exc:
        parse_search([("_count", raw)], PARAMS)
    assert exc.value.status == 400


def test_format_must_be_json() -> None:
    parse_search([("_format", "json"), ("_format", "application/fhir+json")], PARAMS)
    with pytest.raises(ApiError) as exc:
        parse_search([("_format", "xml")], PARAMS)
    assert exc.value.status == 406


@pytest.mark.parametrize(("raw", "start", "end"), [
    ("2026", utc(2026, 1, 1), utc(2027, 1, 1)),
    ("2026-02", utc(2026, 2, 1), utc(2026, 3, 1)),
    ("2026-12", utc(2026, 12, 1), utc(2027, 1, 1)),
    ("2026-02-28", utc(2026, 2, 28), utc(2026, 3, 1)),
    ("2026-02-28T10:15Z", utc(2026, 2, 28, 10, 15), utc(2026, 2, 28, 10, 16)),
    ("2026-02-28T10:15:30Z", utc(2026, 2, 28, 10, 15, 30), utc(2026, 2, 28, 10, 15, 31)),
    ("2026-02-28T10:15:30.5Z", utc(2026, 2, 28, 10, 15, 30) + timedelta(milliseconds=500),
     utc(2026, 2, 28, 10, 15, 30) + timedelta(milliseconds=600)),
    ("2026-02-28T10:15:30+01:00", utc(2026, 2, 28, 9, 15, 30), utc(2026, 2, 28, 9, 15, 31)),
    ("2026-02-28T10:15:30 01:00", utc(2026, 2, 28, 9, 15, 30), utc(2026, 2, 28, 9, 15, 31)),
    ("2026-02-28T10:15:30", utc(2026, 2, 28, 10, 15, 30), utc(2026, 2, 28, 10, 15, 31)),
])
def test_dates_are_ranges_at_their_precision(raw: str, start: datetime, end: datetime) -> None:
    bound = parse_date(raw)
    assert (bound.prefix, bound.start, bound.end) == ("eq", start, end)


@pytest.mark.parametrize("prefix", ["eq", "ne", "gt", "ge", "lt", "le", "sa", "eb"])
def test_date_prefixes(prefix: str) -> None:
    bound = parse_date(f"{prefix}2026-01-31")
    assert bound.prefix == prefix
    assert bound.start == utc(2026, 1, 31)


@pytest.mark.parametrize("raw", ["ap2026-01-01", "2026-13-01", "2026-02-30", "yesterday",
                                 "2026-1-1", "26-01-01", "2026-01-01T25:00Z", "ge"])
def test_bad_dates_are_refused(raw: str) -> None:
    with pytest.raises(ApiError) as exc:
        parse_date(raw)
    assert exc.value.status == 400


def test_date_with_offset_is_compared_in_utc() -> None:
    bound = parse_date("ge2026-01-31T00:00:00-05:00")
    assert bound.start == datetime(2026, 1, 31, 5, tzinfo=UTC)
    assert bound.start.tzinfo == UTC
    assert parse_date("2026-01-31T00:00:00+05:30").start == datetime(
        2026, 1, 31, tzinfo=timezone(timedelta(hours=5, minutes=30)))


@pytest.mark.parametrize(("raw", "ident"), [
    ("abc123", "abc123"),
    ("Patient/abc123", "abc123"),
    ("https://telemed.example/fhir/R4/Patient/abc123", "abc123"),
])
def test_patient_references(raw: str, ident: str) -> None:
    assert parse_reference(raw) == ident


@pytest.mark.parametrize("raw", ["Group/abc", "Patient/", "a b", "Patient/a/b/c?x"])
def test_bad_patient_references(raw: str) -> None:
    with pytest.raises(ApiError) as exc:
        parse_reference(raw)
    assert exc.value.status == 400


def test_reference_ids_intersect_occurrences() -> None:
    params = PARAMS | {"subject": SearchParam("subject", "reference", "")}
    query = parse_search([("patient", "a,b"), ("subject", "Patient/b,Patient/c")], params)
    assert reference_ids(query, ("patient", "subject")) == ["b"]
    assert reference_ids(parse_search([], params), ("patient",)) is None


def test_tokens() -> None:
    assert parse_token("8867-4") == Token(None, "8867-4")
    assert parse_token("http://loinc.org|8867-4") == Token("http://loinc.org", "8867-4")
    assert parse_token("|8867-4") == Token("", "8867-4")
    assert parse_token("http://loinc.org|") == Token("http://loinc.org", None)
    assert Token(None, "x").matches("any", "x")
    assert not Token("", "x").matches("any", "x")
    assert Token("", "x").matches(None, "x")
    assert token_codes(["active", "http://hl7.org/fhir/request-status|draft"]) == [
        "active", "draft"]
    with pytest.raises(ApiError):
        parse_token("|")


def test_cursor_round_trip_and_tampering() -> None:
    key = [utc(2026, 1, 1, 8), 42]
    cursor = encode_cursor("Observation", key)
    assert decode_cursor(cursor, "Observation", ("datetime", "int")) == key
    assert decode_cursor(encode_cursor("CarePlan", [date(2026, 1, 1), "p1"]), "CarePlan",
                         ("date", "str")) == [date(2026, 1, 1), "p1"]
    cases: list[tuple[str, str, tuple[KeyType, ...]]] = [
        (cursor, "Flag", ("datetime", "int")),  # another resource type's cursor
        (cursor, "Observation", ("int",)),
        (cursor, "Observation", ("datetime", "str")),
        ("!!!", "Observation", ("datetime", "int")),
        (encode_cursor("Observation", ["2026-01-01T00:00:00", 1]), "Observation",
         ("datetime", "int")),  # naive time
        (encode_cursor("Observation", [True]), "Observation", ("int",)),
    ]
    for bad, kind, types in cases:
        with pytest.raises(ApiError) as exc:
            decode_cursor(bad, kind, types)
        assert exc.value.status == 400


# --- hostile search input: 400, never an exception the server turns into a 500 ----------


def _b64(raw: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize("raw", ["²", "١٠", "٣", "9" * 30])
def test_count_with_unicode_digits_or_huge_is_refused(raw: str) -> None:
    with pytest.raises(ApiError) as exc:
        parse_search([("_count", raw)], PARAMS)
    assert exc.value.status == 400


@pytest.mark.parametrize("raw", [
    "9999", "9999-12", "9999-12-31", "le9999-12-31T23:59:59", "0001-01-01T00:00:00+01:00",
    "0000-01-01", "2026-01-01T08:00:00+99:00",
])
def test_dates_at_the_edges_of_the_calendar_are_refused_not_raised(raw: str) -> None:
    with pytest.raises(ApiError) as exc:
        parse_date(raw)
    assert exc.value.status == 400


@pytest.mark.parametrize("cursor", [
    _b64(b"[" * 5000 + b"]" * 5000),
    _b64(b'["Observation", "2026-01-01T00:00:00+00:00", ' + b"9" * 30 + b"]"),
    _b64(b'["Observation", "2026-01-01T00:00:00+00:00", [1]]'),
    _b64(b'["Observation", "\\ud800", 1]'),
    _b64(b'["Observation", "2026-01-01T00:00:00+00:00\\u0000", 1]'),
    _b64(b"\xff\xfe"),
])
def test_malformed_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(ApiError) as exc:
        decode_cursor(cursor, "Observation", ("datetime", "int"))
    assert (exc.value.status, exc.value.code) == (400, "invalid_cursor")


@pytest.mark.parametrize(("key", "value"), [
    ("code", "8867-4\x00"), ("code", "\u202e4-7688"), ("patient", "p1\x1b"), ("co\x00de", "x"),
    ("code", "x" * 1001),
])
def test_control_characters_in_search_parameters_are_refused(key: str, value: str) -> None:
    with pytest.raises(ApiError) as exc:
        parse_search([(key, value)], PARAMS)
    assert exc.value.status == 400
