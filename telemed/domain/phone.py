"""Phone numbers in E.164 form (``+`` then 8 to 15 digits, the first not 0).

Input may carry spaces, dashes, dots and parentheses for readability ("+39 333-123 4567");
they are dropped, nothing else is guessed (no national prefixes are added).
"""

from __future__ import annotations

import re

from telemed.domain.errors import N_

_SEPARATORS = re.compile(r"[\s\-.()]")
_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
PHONE_PROBLEM = N_("Enter the phone number in international form, like +39 333 123 4567.")
MAX_INPUT = 32


def normalize_phone(raw: str) -> str | None:
    """The E.164 form of `raw` (``+393331234567``), or None when it is not a valid number."""
    if len(raw) > MAX_INPUT:
        return None
    compact = _SEPARATORS.sub("", raw)
    return compact if _E164.match(compact) else None
