"""Free text rules: control, bidi and invalid characters refused; long text refused, not cut."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemed.domain.errors import DomainValidationError
from telemed.domain.text import (
    BIDI_CONTROLS,
    clean_text,
    forbidden_character,
    required_text,
    spreadsheet_safe,
    text_errors,
)

C0 = [chr(c) for c in range(0x20) if chr(c) not in "\n\t\r"]
C1 = [chr(c) for c in range(0x7F, 0xA0)]
SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff"]


def codes(value: object, **kwargs: object) -> list[str]:
    options: dict = {"max_length": 50, **kwargs}
    return [e.code for e in text_errors(value, "title", **options)[1]]


@pytest.mark.parametrize("char", [*C0, *C1, *sorted(BIDI_CONTROLS), *SURROGATES, "\r"])
def test_refused_characters(char: str) -> None:
    assert codes(f"Pressione {char}alta") == ["invalid_characters"]
    if char != "\r":  # a lone CR is a line end in multi-line text
        assert codes(f"Pressione {char}alta", multiline=True) == ["invalid_characters"]


def test_the_error_names_the_character_and_the_field() -> None:
    with pytest.raises(DomainValidationError) as info:
        clean_text("abc\u202edef", "goals[2]", max_length=20)
    error = info.value.errors[0]
    assert (error.path, error.code, error.render()) == (
        "goals[2]", "invalid_characters",
        "Contains a character that is not allowed here (U+202E).")


def test_newline_and_tab_only_in_multiline_text() -> None:
    assert codes("riga uno\nriga due") == ["invalid_characters"]
    assert codes("a\tb") == ["invalid_characters"]
    assert clean_text("riga uno\r\nriga due\rtre\tquattro", "note", max_length=50,
                      multiline=True) == "riga uno\nriga due\ntre\tquattro"


def test_ordinary_text_of_any_script_passes_unchanged() -> None:
    for text in ("Controllo pressione — mattina", "D'Annunzio-Sañé", "血压", "ضغط الدم",
                 "\u200fשלום\u200e", "😀 emoji", "x" * 50):
        assert clean_text(text, "title", max_length=50) == text


def test_too_long_is_refused_naming_the_limit_never_cut() -> None:
    with pytest.raises(DomainValidationError) as info:
        clean_text("x" * 1001, "note", max_length=1000, multiline=True)
    assert (info.value.code, info.value.errors[0].render()) == (
        "too_long", "At most 1000 characters.")
    assert clean_text("  " + "x" * 1000 + "  ", "note", max_length=1000) == "x" * 1000


def test_required_empty_type_and_collapse() -> None:
    assert codes("   ") == ["empty_text"]
    assert codes(None) == ["invalid_type"]
    assert codes(12) == ["invalid_type"]
    assert codes(None, required=False) == []
    assert clean_text("  ", "note", max_length=5, required=False) is None
    assert required_text("  Anna \t  Maria ", "name", max_length=20, collapse=True) == (
        "Anna Maria")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_text_is_either_clean_or_refused_with_a_reason(text: str) -> None:
    cleaned, errors = text_errors(text, "t", max_length=40, multiline=True, required=False)
    if errors:
        assert cleaned is None and errors[0].code in ("invalid_characters", "too_long")
    elif cleaned is not None:
        assert forbidden_character(cleaned, multiline=True) is None
        assert len(cleaned) <= 40
        cleaned.encode("utf-8")  # storable


@pytest.mark.parametrize("trigger", ["=", "+", "-", "@", "\t", "\r"])
def test_spreadsheet_formula_cells_are_neutralised(trigger: str) -> None:
    cell = f"{trigger}HYPERLINK(\"http://x\",\"y\")"
    assert spreadsheet_safe(cell) == "'" + cell


def test_spreadsheet_safe_leaves_other_cells() -> None:
    for value in ("visita", "", " =not first", "'quoted", None, 3, True):
        assert spreadsheet_safe(value) == value
