"""Translating English messages that reach pages already filled in.

Services and the domain speak English: a field error reaches a page as the rendered text of a
template such as ``"{lower} ({lower_value}) must not be {relation} {upper} ({upper_value})."``.
The catalogue holds the *templates* as msgids (listed in `service_messages`). To translate a
rendered message, each template with placeholders is turned into a pattern; the matching
template is translated first and then filled with the captured values. A captured value is
translated too when the catalogue has it under the placeholder's name as context
(``msgctxt "relation"``, ``msgid "at or above"``).
"""

from __future__ import annotations

import re
from functools import cache

from telemed.domain.errors import render_template
from telemed.domain.units import METRICS
from telemed.i18n import translations
from telemed.views.service_messages import ENGLISH_VALUES, MESSAGES

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")

# Placeholders whose values are known words: a tighter pattern avoids wrong splits.
_VALUE_PATTERNS = {
    "relation": r"at or above|above",
    "lower": r"[a-z_]+",
    "upper": r"[a-z_]+",
    "lower_value": r"-?[0-9.e+]+",
    "upper_value": r"-?[0-9.e+]+",
    "minutes": r"[0-9]+",
    "seconds": r"[0-9]+",
}


@cache
def _templates() -> tuple[tuple[re.Pattern[str], str], ...]:
    """(pattern, msgid) for every message template with placeholders, most specific first."""
    found = [(len(_PLACEHOLDER.sub("", msgid)), _compile(msgid), msgid)
             for msgid in MESSAGES if _PLACEHOLDER.search(msgid)]
    found.sort(key=lambda item: -item[0])
    return tuple((pattern, msgid) for _, pattern, msgid in found)


def _compile(template: str) -> re.Pattern[str]:
    parts: list[str] = []
    seen: set[str] = set()
    position = 0
    for match in _PLACEHOLDER.finditer(template):
        parts.append(re.escape(template[position:match.start()]))
        name = match[1]
        if name in seen:
            parts.append(f"(?P={name})")
        else:
            parts.append(f"(?P<{name}>{_VALUE_PATTERNS.get(name, '.+?')})")
            seen.add(name)
        position = match.end()
    parts.append(re.escape(template[position:]))
    return re.compile("".join(parts), re.DOTALL)


def translate_value(language: str, name: str, value: str) -> str:
    """A placeholder's value in `language`, when the catalogue knows it in context `name`.

    In English, identifiers become words (``warning_low`` → ``the warning low limit``)."""
    if language == "en":
        if name == "metric" and value in METRICS:
            return METRICS[value].display_name.lower()
        return ENGLISH_VALUES.get((name, value), value)
    translated = translations(language).pgettext(name, value)
    return translated if isinstance(translated, str) else value


def translate_message(language: str, message: str) -> str:
    """`message` (English, maybe a filled-in template) in `language`."""
    if not message:
        return message
    trans = translations(language)
    direct = trans.gettext(message)
    if direct != message:
        return direct
    for pattern, msgid in _templates():
        match = pattern.fullmatch(message)
        if match is None:
            continue
        params = {k: translate_value(language, k, v) for k, v in match.groupdict().items()}
        return render_template(trans.gettext(msgid), params)
    return message
