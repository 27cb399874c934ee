"""Validation errors that a user may see, translatable through gettext.

Each error has a stable snake_case ``code``, an English ``message`` template with
``{placeholders}`` (the gettext msgid) and the ``params`` that fill it, so the UI can
translate the template first and format it afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


def N_(message: str) -> str:
    """Mark an English message template for the catalogue where it is written."""
    return message


class _KeepMissing(dict[str, object]):
    """Format mapping that leaves unknown placeholders as they are."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render_template(message: str, params: Mapping[str, object]) -> str:
    """Fill ``{placeholders}`` of an English template; unknown ones stay visible."""
    try:
        return message.format_map(_KeepMissing(params))
    except (ValueError, IndexError, AttributeError, KeyError):
        return message


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field; ``path`` is like ``monitoring[0].bands.warning_low``."""

    path: str
    code: str
    message: str
    params: Mapping[str, object] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    def render(self) -> str:
        """The English message with its parameters filled in."""
        return render_template(self.message, self.params)

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form (message rendered in English)."""
        return {
            "path": self.path,
            "code": self.code,
            "message": self.render(),
            "params": dict(self.params),
        }


class DomainValidationError(ValueError):
    """Input that breaks one or more domain rules; ``errors`` lists every problem found."""

    def __init__(self, errors: Iterable[FieldError]) -> None:
        self.errors: list[FieldError] = list(errors)
        if not self.errors:
            raise ValueError("DomainValidationError needs at least one FieldError")
        super().__init__(
            "; ".join(f"{e.path}: {e.render()}" if e.path else e.render() for e in self.errors)
        )

    @classmethod
    def single(
        cls, path: str, code: str, message: str, /, **params: object
    ) -> DomainValidationError:
        """An error with one ``FieldError``."""
        return cls([FieldError(path, code, message, params)])

    @property
    def code(self) -> str:
        """The code of the first error (convenient when there is only one)."""
        return self.errors[0].code

    @property
    def codes(self) -> list[str]:
        """Every error code, in order."""
        return [e.code for e in self.errors]

