"""E.164 phone numbers: normalisation and refusals."""

from __future__ import annotations

import pytest

from telemed.domain.phone import normalize_phone


@pytest.mark.parametrize(("raw", "expected"), [
    ("+393331234567", "+393331234567"),
    ("+39 333 123 4567", "+393331234567"),
    ("+39-333-123-4567", "+393331234567"),
    (" +1 (415) 555.2671 ", "+14155552671"),
    ("+12345678", "+12345678"),             # 8 digits: the shortest
    ("+123456789012345", "+123456789012345"),  # 15 digits: the longest
])
def test_valid_numbers_are_normalised(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize("raw", [
    "", "+", "393331234567",          # no leading +
    "+1234567",                       # 7 digits
    "+1234567890123456",              # 16 digits
    "+0391234567",                    # country code cannot start with 0
    "+39 333 abc 4567", "+39+3331234567", "++393331234567",
    "+39_3331234567", "+39 333 123 4567 ext 2", "+３９３３３１２３４５６７",  # non-ASCII digits
    "+39" + " " * 40 + "3331234567",  # too long an input
])
def test_invalid_numbers_are_refused(raw: str) -> None:
    assert normalize_phone(raw) is None
