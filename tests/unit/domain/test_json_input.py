"""The defensive JSON parser: depth, lone surrogates, duplicate keys, non-finite numbers."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemed.domain.json_input import JsonInputError, depth, parse_json, walk_strings


def reason(text: str | bytes, **kwargs: int) -> str:
    with pytest.raises(JsonInputError) as info:
        parse_json(text, **kwargs)
    return info.value.code


def test_plain_documents_parse() -> None:
    assert parse_json('{"a": [1, 2.5, "x", null, true, {"b": "ü"}]}') == {
        "a": [1, 2.5, "x", None, True, {"b": "ü"}]}
    assert parse_json(b'["\\ud83d\\ude00"]') == ["😀"]  # a surrogate pair is one character
    assert parse_json("3") == 3


@pytest.mark.parametrize("levels", [33, 500, 5_000, 200_000])
def test_deep_nesting_is_refused_not_a_crash(levels: int) -> None:
    assert reason("[" * levels + "]" * levels) == "too_deep"
    assert reason('{"a":' * levels + "1" + "}" * levels) == "too_deep"


def test_depth_limit_is_inclusive() -> None:
    assert depth(parse_json("[" * 32 + "]" * 32)) == 32
    assert reason("[[1]]", max_depth=1) == "too_deep"
    assert parse_json("[1]", max_depth=1) == [1]


@pytest.mark.parametrize("text", [
    '{"title": "\\ud800"}', '{"\\udc00": 1}', '["ok", ["\\udbff x"]]', '"\\ude00"',
])
def test_lone_surrogates_in_keys_and_values_are_refused(text: str) -> None:
    assert reason(text) == "invalid_unicode"


@pytest.mark.parametrize("text", [
    "", "{", "{'a': 1}", "NaN", '{"a": Infinity}', '[-Infinity]', "[1e999]", "1" * 5000,
    b"\xff\xfe", "[1,]",
])
def test_not_json_is_refused(text: str | bytes) -> None:
    assert reason(text) == "invalid_json"


def test_duplicate_keys_are_refused() -> None:
    assert reason('{"minutes": 5, "minutes": 500}') == "duplicate_key"
    assert reason('[{"a": {"b": 1, "b": 2}}]') == "duplicate_key"


def test_walk_strings_reaches_keys_and_values_with_paths() -> None:
    found = sorted(walk_strings({"a": ["x", {"k": "v"}], "n": 1}))
    assert found == sorted([("a", "a"), ("a[0]", "x"), ("a[1].k", "k"), ("a[1].k", "v"),
                            ("n", "n")])


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_json.map(lambda v: json.dumps(v)), st.text(max_size=80),
                 st.binary(max_size=80)))
def test_any_input_parses_or_is_refused_with_a_reason(text: str | bytes) -> None:
    try:
        value = parse_json(text)
    except JsonInputError as exc:
        assert exc.code in ("invalid_json", "too_deep", "invalid_unicode", "duplicate_key")
    else:
        assert depth(value) <= 32
        for _, string in walk_strings(value):
            string.encode("utf-8")
