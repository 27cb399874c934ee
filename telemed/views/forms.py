"""Form helpers shared by the pages: raw values, field errors, the error summary."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from aiohttp import web

from telemed.errors import ApiError
from telemed.views.render import N_, t, t_error

__all__ = ["N_", "Form", "FormErrors", "api_errors", "form_order", "parse_date", "read_form",
           "simple_field"]

Form = dict[str, str]

_DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")


async def read_form(request: web.Request) -> Form:
    """The posted fields as text (uploads ignored; the last value of a repeated name wins)."""
    posted = await request.post()
    return {key: value for key, value in posted.items() if isinstance(value, str)}


def parse_date(text: str) -> date | None:
    """A date typed as YYYY-MM-DD (date inputs) or DD/MM/YYYY; None when it is neither."""
    text = text.strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    match = _DMY.match(text)
    if match is None:
        return None
    try:
        return date(int(match[3]), int(match[2]), int(match[1]))
    except ValueError:
        return None


@dataclass
class FormErrors:
    """Problems of a submitted form: per field id (shown next to it) and general ones."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def add(self, field_id: str | None, message: str) -> None:
        """Record a (translated) message for a field, or a general one when field_id is None."""
        if field_id is None:
            self.general.append(message)
        else:
            self.fields.setdefault(field_id, []).append(message)

    def __bool__(self) -> bool:
        return bool(self.fields or self.general)

    def summary(self, label_of: Callable[[str], str],
                order: Callable[[str], tuple[int, ...]] | None = None
                ) -> list[tuple[str | None, str]]:
        """(link target or None, text) for the error summary at the top of the page,
        general problems first, then the fields in the order the form shows them."""
        items: list[tuple[str | None, str]] = [(None, message) for message in self.general]
        fields = sorted(self.fields, key=order) if order is not None else list(self.fields)
        for field_id in fields:
            items.extend((field_id, f"{label_of(field_id)}: {message}")
                         for message in self.fields[field_id])
        return items


def form_context(request: web.Request, form: Form, errors: FormErrors,
                 fields: Mapping[str, str], *, ordered: bool = False) -> dict[str, Any]:
    """What a form page's template needs of the form: the values, the errors, the labels of
    `fields` (field id → English label) translated, and the error summary (a field without a
    label is named by its id; `ordered`: in the order of `fields`, else as found)."""
    labels = {key: t(request, label) for key, label in fields.items()}
    return {"form": form, "errors": errors, "labels": labels,
            "summary": errors.summary(lambda key: labels.get(key, key),
                                      form_order(fields) if ordered else None)}


def api_errors(
    request: web.Request,
    exc: ApiError,
    field_of: Callable[[str], str | None],
    errors: FormErrors | None = None,
) -> FormErrors:
    """The translated field errors of a service's ApiError, placed by `field_of(path)`."""
    errors = errors if errors is not None else FormErrors()
    for problem in exc.messages():
        errors.add(field_of(problem.path) if problem.path else None, t_error(request, problem))
    return errors


def form_order(known: Mapping[str, str]) -> Callable[[str], tuple[int, ...]]:
    """Sort key of field ids by their position in `known` (the form's order)."""
    positions = {key: index for index, key in enumerate(known)}
    return lambda field_id: (positions.get(field_id, len(positions)),)


def simple_field(known: Mapping[str, str]) -> Callable[[str], str | None]:
    """A path → field mapper for flat forms whose field ids equal the service's paths."""

    def field_of(path: str) -> str | None:
        head = path.split(".", 1)[0].split("[", 1)[0]
        return head if head in known else None

    return field_of


def refusal_errors(request: web.Request, exc: ApiError, field_of: Callable[[str], str | None],
                   conflicts: Mapping[str, str | None]) -> FormErrors:
    """The form's errors of a refused change: a conflict (409) whose code `conflicts` names
    said next to that field (None: at the top of the form), invalid fields (422) next to
    theirs; anything else is raised."""
    if exc.status == 409 and exc.code in conflicts:
        errors = FormErrors()
        errors.add(conflicts[exc.code], t_error(request, exc))
        return errors
    if exc.status == 422:
        return api_errors(request, exc, field_of)
    raise exc
