"""Italian fiscal code (codice fiscale) and patient demographics.

The check uses python-codicefiscale, whose municipality and country tables are read once
from the package's own data files on first use (the only file reading in the domain).

A code is normalized to upper case with all whitespace removed. Omocodia (digits replaced by
the letters ``LMNPQRSTUV`` to tell apart people who would share a code) is accepted
anywhere the substitution is allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from codicefiscale import codicefiscale

from telemed.domain.errors import DomainValidationError, FieldError

Sex = Literal["M", "F", "O", "U"]
"""Stored sex: male, female, other, unknown (the column holds one letter)."""
BinarySex = Literal["M", "F"]

SEX_INPUTS: dict[str, Sex] = {
    "M": "M", "F": "F", "O": "O", "U": "U",
    "MALE": "M", "FEMALE": "F", "OTHER": "O", "UNKNOWN": "U",
}
"""Accepted spellings (any case): our letters and FHIR's administrative gender codes."""
SEX_CHOICES = "M, F, O, U, male, female, other, unknown"
FHIR_GENDERS: dict[str, str] = {"M": "male", "F": "female", "O": "other", "U": "unknown"}

_OMOCODE_DIGITS = "0123456789"
_OMOCODE_LETTERS = "LMNPQRSTUV"
_FROM_OMOCODE = str.maketrans(_OMOCODE_LETTERS, _OMOCODE_DIGITS)
_MONTHS = "ABCDEHLMPRST"
_D = f"[0-9{_OMOCODE_LETTERS}]"
_FORMAT_RE = re.compile(rf"^[A-Z]{{6}}{_D}{{2}}[{_MONTHS}]{_D}{{2}}[A-Z]{_D}{{3}}[A-Z]$")
_PATH = "fiscal_code"

MIN_BIRTH_DATE = date(1900, 1, 1)
MAX_NAME_LENGTH = 100
DEFAULT_TIMEZONE = "Europe/Rome"
_PHONE_RE = re.compile(r"^\+[1-9][0-9]{6,14}$")
_PHONE_SEPARATORS = re.compile(r"[\s\-./()]")
_TZ_KEY_RE = re.compile(r"^[A-Z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*$")
_NOT_ZONES = frozenset({"Factory"})


@dataclass(frozen=True, slots=True)
class _Encoded:
    """Birth data encoded in a (de-omocoded) fiscal code."""

    year_2digits: int
    month: int
    day: int
    sex: BinarySex


def normalize_fiscal_code(code: str) -> str:
    """Upper case, whitespace removed."""
    return "".join(code.split()).upper()


def mask_fiscal_code(code: str | None) -> str:
    """A fiscal code as a log may show it: the first three and last three characters, the
    rest (birth date, sex, most of the place) hidden; "" for no code."""
    if not code:
        return ""
    if len(code) <= 6:
        return "*" * len(code)
    return code[:3] + "*" * (len(code) - 6) + code[-3:]


def _encoded(code: str) -> _Encoded:
    plain = code[:15].translate(_FROM_OMOCODE)  # only digit positions hold these letters
    day = int(plain[9:11])
    return _Encoded(int(plain[6:8]), _MONTHS.index(code[8]) + 1, day % 40, "F" if day > 40 else "M")


def _possible_date(encoded: _Encoded) -> bool:
    for century in (1900, 2000):
        try:
            date(century + encoded.year_2digits, encoded.month, encoded.day)
        except ValueError:
            continue
        return True
    return False


def _as_date(value: date | str | None) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def canonical_sex(value: object) -> Sex | None:
    """``M``/``F``/``O``/``U`` for any accepted spelling (``female``, `` m ``), else None."""
    if not isinstance(value, str):
        return None
    return SEX_INPUTS.get(value.strip().upper())


def fhir_gender(sex: str) -> str:
    """FHIR administrative gender of a stored sex (``unknown`` for anything else)."""
    return FHIR_GENDERS.get(sex, "unknown")


def _as_binary_sex(value: str | None) -> BinarySex | None:
    declared = canonical_sex(value)
    return declared if declared == "M" or declared == "F" else None


def validate_fiscal_code(
    code: str, *, birth_date: date | str | None = None, sex: str | None = None
) -> str:
    """The normalized code, or ``DomainValidationError`` on ``fiscal_code``.

    Codes: ``invalid_format`` (shape, impossible date), ``invalid_check_character``,
    ``unknown_birthplace``, and, when ``birth_date``/``sex`` are given,
    ``birth_date_mismatch`` and ``sex_mismatch``. The code encodes only male or female: a sex
    of ``other`` or ``unknown`` is not compared with it.
    """
    normalized = normalize_fiscal_code(code) if isinstance(code, str) else ""
    if not _FORMAT_RE.match(normalized):
        raise DomainValidationError.single(
            _PATH, "invalid_format",
            "A fiscal code has 16 letters and digits, like RSSMRA80A01H501U.",
        )
    encoded = _encoded(normalized)
    if not 1 <= encoded.day <= 31 or not _possible_date(encoded):
        raise DomainValidationError.single(
            _PATH, "invalid_format", "This fiscal code encodes an impossible birth date."
        )
    if codicefiscale.encode_cin(normalized) != normalized[15]:
        raise DomainValidationError.single(
            _PATH, "invalid_check_character",
            "The last character of this fiscal code does not match the others; check for a typo.",
        )
    try:
        codicefiscale.decode(normalized)
    except ValueError:
        raise DomainValidationError.single(
            _PATH, "unknown_birthplace",
            "This fiscal code has an unknown place of birth code ({place_code}).",
            place_code=normalized[11:15],
        ) from None
    errors: list[FieldError] = []
    born = _as_date(birth_date)
    if born is not None and (born.year % 100, born.month, born.day) != (
        encoded.year_2digits, encoded.month, encoded.day
    ):
        errors.append(FieldError(
            _PATH, "birth_date_mismatch",
            "The fiscal code does not match the birth date {birth_date}.",
            {"birth_date": born.isoformat()},
        ))
    declared = _as_binary_sex(sex)
    if declared is not None and declared != encoded.sex:
        errors.append(FieldError(
            _PATH, "sex_mismatch", "The fiscal code does not match the sex {sex}.",
            {"sex": declared},
        ))
    if errors:
        raise DomainValidationError(errors)
    return normalized


def build_fiscal_code(
    given_name: str, family_name: str, birth_date: date, sex: str, birthplace: str
) -> str:
    """The (non-omocode) fiscal code of a person; ``birthplace`` is a municipality or country.

    Raises ``DomainValidationError``: ``invalid_choice`` (sex not male or female, any
    spelling) or ``unknown_birthplace``.
    """
    declared = _as_binary_sex(sex)
    if declared is None:
        raise DomainValidationError.single("sex", "invalid_choice", "Must be one of: {choices}.",
                                           choices="M, F")
    born = datetime(birth_date.year, birth_date.month, birth_date.day)
    try:
        return str(codicefiscale.encode(family_name, given_name, declared, born, birthplace))
    except ValueError:
        raise DomainValidationError.single(
            "birthplace", "unknown_birthplace", 'Unknown place of birth "{place}".',
            place=birthplace,
        ) from None


@dataclass(frozen=True, slots=True)
class Demographics:
    """Validated, normalized patient demographics."""

    given_name: str
    family_name: str
    birth_date: date
    sex: Sex
    phone: str | None
    timezone: str


def normalize_phone(phone: str) -> str:
    """Separators removed and a leading ``00`` turned into ``+``."""
    compact = _PHONE_SEPARATORS.sub("", phone)
    return "+" + compact[2:] if compact.startswith("00") else compact


def is_valid_timezone(name: str) -> bool:
    """True for an IANA time zone name known to this system (``Europe/Rome``, ``UTC``)."""
    if not isinstance(name, str) or not _TZ_KEY_RE.match(name) or name in _NOT_ZONES:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _name(errors: list[FieldError], path: str, value: object) -> str:
    if not isinstance(value, str):
        errors.append(FieldError(path, "invalid_type", "Expected {expected}.",
                                 {"expected": "a text"}))
        return ""
    text = " ".join(value.split())
    if not text:
        errors.append(FieldError(path, "empty_text", "Must not be empty."))
    elif len(text) > MAX_NAME_LENGTH:
        errors.append(FieldError(path, "too_long", "At most {max} characters.",
                                 {"max": MAX_NAME_LENGTH}))
    elif any(not ch.isprintable() for ch in text):
        errors.append(FieldError(path, "invalid_characters", "Contains invalid characters."))
    return text


def validate_demographics(
    *,
    given_name: str,
    family_name: str,
    birth_date: date | str,
    sex: str,
    phone: str | None = None,
    timezone: str | None = DEFAULT_TIMEZONE,
    today: date | None = None,
) -> Demographics:
    """Normalized demographics, or ``DomainValidationError`` listing every problem.

    Birth date from 1900-01-01 to ``today`` (default: the local date); sex ``M``/``F``/``O``/
    ``U`` or FHIR's ``male``/``female``/``other``/``unknown`` (any case), stored as the
    letter; names non-empty, at most 100 characters, inner whitespace collapsed;
    phone optional, international form ``+<country><number>`` (spaces, dashes, dots and
    parentheses are dropped, ``00`` becomes ``+``); timezone an IANA name (default
    ``Europe/Rome``).
    """
    errors: list[FieldError] = []
    given = _name(errors, "given_name", given_name)
    family = _name(errors, "family_name", family_name)

    born = _as_date(birth_date)
    limit = today if today is not None else date.today()
    if born is None:
        errors.append(FieldError("birth_date", "invalid_date",
                                 "Expected a date as YYYY-MM-DD."))
    elif born > limit:
        errors.append(FieldError("birth_date", "future_date",
                                 "The birth date is in the future."))
    elif born < MIN_BIRTH_DATE:
        errors.append(FieldError("birth_date", "out_of_range", "Must not be before {min}.",
                                 {"min": MIN_BIRTH_DATE.isoformat()}))

    declared = canonical_sex(sex)
    if declared is None:
        errors.append(FieldError("sex", "invalid_choice", "Must be one of: {choices}.",
                                 {"choices": SEX_CHOICES}))

    normalized_phone = None
    if phone is not None and not (isinstance(phone, str) and not phone.strip()):
        normalized_phone = normalize_phone(phone) if isinstance(phone, str) else ""
        if not _PHONE_RE.match(normalized_phone):
            errors.append(FieldError(
                "phone", "invalid_phone",
                "Expected an international phone number such as +39 333 123 4567.",
            ))

    zone = DEFAULT_TIMEZONE if timezone is None or timezone == "" else timezone
    if not is_valid_timezone(zone):
        errors.append(FieldError("timezone", "invalid_timezone",
                                 'Unknown time zone "{timezone}"; use a name like Europe/Rome.',
                                 {"timezone": zone}))

    if errors or born is None or declared is None:
        raise DomainValidationError(errors)
    return Demographics(given, family, born, declared, normalized_phone, zone)
