"""Free text typed by people, checked at the point a use case reads it (422 on failure).

A thin adapter of :mod:`telemed.domain.text` for services and handlers: the domain error
becomes the API's 422 naming the field (``{"fields": {"reason": "At most 1000 characters."}}``).
"""

from __future__ import annotations

from telemed.domain.errors import DomainValidationError, render_template
from telemed.domain.text import INVALID_CHARACTER, clean_text, describe, forbidden_character
from telemed.errors import from_domain


def optional(value: object, path: str, *, max_length: int, multiline: bool = False,
             collapse: bool = False) -> str | None:
    """The clean text, None when absent or blank; 422 when too long or with bad characters."""
    try:
        return clean_text(value, path, max_length=max_length, multiline=multiline,
                          required=False, collapse=collapse)
    except DomainValidationError as exc:
        raise from_domain(exc) from None


def required(value: object, path: str, *, max_length: int, multiline: bool = False,
             collapse: bool = False) -> str:
    """The clean text; 422 when missing, blank, too long or with bad characters."""
    try:
        text = clean_text(value, path, max_length=max_length, multiline=multiline,
                          collapse=collapse)
    except DomainValidationError as exc:
        raise from_domain(exc) from None
    assert text is not None
    return text


def problem(value: str, *, multiline: bool = False) -> str | None:
    """What is wrong with the characters of ``value`` (English), or None when they are fine."""
    bad = forbidden_character(value, multiline=multiline)
    return None if bad is None else render_template(INVALID_CHARACTER,
                                                    {"character": describe(bad)})
