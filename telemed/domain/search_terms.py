"""Search terms of a patient: names and fiscal code, folded for accent- and case-insensitive
prefix search (pure functions).

A name is folded with Unicode compatibility decomposition, its combining marks dropped and
lower-cased; anything that is not a letter or digit separates words (``D'Amico`` gives
``d`` and ``amico``, and ``damico`` for those who type it without the apostrophe). A search
matches a patient when every word typed is the start of one of the patient's terms, so
``ross mar``, ``Rossi`` and ``RSSMRA`` all find Mario Rossi (RSSMRA80A01H501U).

Terms hold only ``[0-9a-z]``, so that "every term starting with ``ros``" is the range
``[ros, rot)`` in any collation (SQLite's binary one, PostgreSQL's locale ones): an index
on the term serves it.
"""

from __future__ import annotations

import re
import unicodedata

MAX_TERM = 32
MAX_WORDS = 6
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_WORD = re.compile(r"[0-9a-z]+")


def fold(text: str) -> str:
    """Lower case, accents and ligatures folded (``Nicolò`` → ``nicolo``, ``ß`` → ``ss``)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    """The folded words of a text, each at most `MAX_TERM` characters, in order."""
    return [w[:MAX_TERM] for w in _WORD.findall(fold(text))]


def patient_terms(given_name: str, family_name: str, fiscal_code: str) -> set[str]:
    """The terms a patient is found by: each word of the names, each name without its
    separators (``de luca`` → ``deluca``), and the fiscal code."""
    terms: set[str] = set()
    for name in (given_name, family_name):
        parts = words(name)
        terms.update(parts)
        if len(parts) > 1:
            terms.add("".join(parts)[:MAX_TERM])
    terms.update(words(fiscal_code))
    return terms


def query_words(query: str) -> list[str]:
    """The distinct words of a search, at most `MAX_WORDS` (each must prefix a term)."""
    return list(dict.fromkeys(words(query)))[:MAX_WORDS]


def prefix_end(prefix: str) -> str | None:
    """The smallest string of `[0-9a-z]` after every string that starts with `prefix`
    (``ros`` → ``rot``, ``raz`` → ``rb``); None when there is none (``zz``)."""
    stripped = prefix.rstrip(_ALPHABET[-1])
    if not stripped:
        return None
    last = stripped[-1]
    return stripped[:-1] + _ALPHABET[_ALPHABET.index(last) + 1]
