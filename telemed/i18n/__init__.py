"""Message catalogues (gettext .po files, Italian default) and language negotiation."""

from __future__ import annotations

import io
from functools import cache, lru_cache
from pathlib import Path

from babel.core import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

LANGUAGES = ("it", "en")
CATALOGUE_DIR = Path(__file__).parent


@cache
def translations(language: str) -> NullTranslations:
    """The compiled catalogue of `language` (English msgids need none)."""
    po = CATALOGUE_DIR / language / "LC_MESSAGES" / "messages.po"
    if language == "en" or not po.exists():
        return NullTranslations()
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


@cache
def locale_of(language: str) -> Locale:
    """Babel's locale of `language`, parsed once: babel's formatters parse a locale given as
    text on every call (half the cost of formatting a date; a board formats over 1,000)."""
    return Locale.parse(language)


@lru_cache(maxsize=4096)
def decimal_text(value: float, pattern: str, language: str) -> str:
    """``value`` formatted by babel with ``pattern`` in ``language``, kept: a page repeats
    the same few readings' values (a board formats about 400 numbers)."""
    return format_decimal(value, pattern, locale=locale_of(language))


def gettext(language: str, message: str) -> str:
    """`message` (an English msgid) in `language`."""
    return translations(language).gettext(message)


def negotiate(accept_language: str, default: str) -> str:
    """The best supported language for an Accept-Language header."""
    best, best_q = default, -1.0
    for part in accept_language.split(","):
        tag, _, q = part.strip().partition(";q=")
        lang = tag.split("-")[0].strip().lower()
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            continue
        if lang in LANGUAGES and weight > best_q:
            best, best_q = lang, weight
    return best
