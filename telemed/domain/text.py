"""Free text that people type (titles, goals, notes, names, reasons, reports, chat).

One rule for every such field: text is stored as typed, except that

- NUL and the other C0 and C1 control characters (and DEL) are refused; a multi-line field
  allows newline and tab, and its CR LF / lone CR line ends become LF;
- bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069) are refused: they make
  text display in an order other than the one it is stored in ("Trojan source");
- lone surrogates (U+D800–U+DFFF, which cannot be encoded as UTF-8) are refused;
- leading and trailing whitespace is dropped; a field that collapses whitespace (names,
  one-line reasons) turns every run of whitespace, line ends and tabs included, into one space;
- text longer than the field's limit is refused naming the limit, never cut.

Errors are ``DomainValidationError`` with codes ``invalid_type``, ``empty_text``, ``too_long``
and ``invalid_characters`` on the field's path.
"""

from __future__ import annotations

import re

from telemed.domain.errors import N_, DomainValidationError, FieldError

BIDI_CONTROLS = frozenset(
    {"\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"}
)
_MULTILINE_ALLOWED = frozenset({"\n", "\t"})
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")

INVALID_CHARACTER = N_("Contains a character that is not allowed here ({character}).")
TOO_LONG = N_("At most {max} characters.")
EMPTY = N_("Must not be empty.")


def forbidden_character(text: str, *, multiline: bool = False) -> str | None:
    """The first character of ``text`` that free text may not hold, or None.

    ``multiline`` allows newline and tab (line ends are expected already normalized to LF).
    """
    for match in _FORBIDDEN.finditer(text):
        char = match.group()
        if multiline and char in _MULTILINE_ALLOWED:
            continue
        return char
    return None


def describe(char: str) -> str:
    """A character as ``U+XXXX`` (how it is named in error messages)."""
    return f"U+{ord(char):04X}"


def text_errors(
    value: object,
    path: str,
    *,
    max_length: int,
    multiline: bool = False,
    required: bool = True,
    collapse: bool = False,
) -> tuple[str | None, list[FieldError]]:
    """The clean text (None when absent or empty and not required) and the problems found."""
    if value is None and not required:
        return None, []
    if not isinstance(value, str):
        return None, [FieldError(path, "invalid_type", "Expected {expected}.",
                                 {"expected": "a text"})]
    spaced = multiline or collapse  # line ends and tabs are kept, or collapsed to spaces
    text = value.replace("\r\n", "\n").replace("\r", "\n") if spaced else value
    bad = forbidden_character(text, multiline=spaced)
    if bad is not None:
        return None, [FieldError(path, "invalid_characters", INVALID_CHARACTER,
                                 {"character": describe(bad)})]
    text = " ".join(text.split()) if collapse and not multiline else text.strip()
    if not text:
        if required:
            return None, [FieldError(path, "empty_text", EMPTY)]
        return None, []
    if len(text) > max_length:
        return None, [FieldError(path, "too_long", TOO_LONG, {"max": max_length})]
    return text, []


def clean_text(
    value: object,
    path: str,
    *,
    max_length: int,
    multiline: bool = False,
    required: bool = True,
    collapse: bool = False,
) -> str | None:
    """The clean text of one field, or ``DomainValidationError`` (see the module docstring).

    Returns None only when ``required`` is false and the value is None or blank.
    """
    text, errors = text_errors(value, path, max_length=max_length, multiline=multiline,
                               required=required, collapse=collapse)
    if errors:
        raise DomainValidationError(errors)
    return text


def required_text(
    value: object, path: str, *, max_length: int, multiline: bool = False,
    collapse: bool = False,
) -> str:
    """Like :func:`clean_text` for a field that must not be empty."""
    text = clean_text(value, path, max_length=max_length, multiline=multiline, collapse=collapse)
    assert text is not None
    return text


FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """A CSV cell that a spreadsheet will not run as a formula (OWASP "CSV injection").

    Text beginning with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading
    apostrophe, which spreadsheets show as text; other values are returned unchanged.
    """
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value
