"""What the generic FHIR handlers need to know of one resource type.

A :class:`ResourceSpec` ties together the table behind a resource (`services.fhir_rows`: its
rows, sort order and statements), its search parameters (parsed into conditions before the
database is touched), the mapper of a page of rows, and how one resource is read by id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.api.fhir.search import KeyType, SearchParam, SearchQuery
from telemed.principal import CLINICIANS, Principal, Role
from telemed.services.audit import Resource
from telemed.services.fhir_rows import Table

__all__ = ["PATIENT", "Authorize", "Entry", "Load", "Render", "ResourceSpec", "Table",
           "loaded", "no_conditions", "record_spec", "rendered"]


@dataclass(frozen=True)
class Entry:
    """One resource of a result, the patient it belongs to and its row (``source``)."""

    patient_id: str
    resource: dict[str, Any]
    source: Any = None


Render = Callable[[AsyncSession, Sequence[Any]], Awaitable[list[Entry]]]
Load = Callable[[AsyncSession, str], Awaitable[Entry | None]]
Authorize = Callable[[AsyncSession, Principal, Entry, str | None], Awaitable[None]]


def no_conditions(query: SearchQuery) -> list[Any]:
    return []


Mapper = Callable[[Any], dict[str, Any]]  # one row → its FHIR resource
Fetch = Callable[[AsyncSession, str], Awaitable[Any]]  # a row by id, or None


def rendered(mapper: Mapper, patient: str = "patient_id") -> Render:
    """The `Render` of a resource that is one row each: `mapper` of every row of the page,
    belonging to the patient of the row's `patient` attribute."""
    async def render(session: AsyncSession, rows: Sequence[Any]) -> list[Entry]:
        return [Entry(getattr(row, patient), mapper(row), row) for row in rows]
    return render


def loaded(fetch: Fetch, mapper: Mapper, patient: str = "patient_id") -> Load:
    """The `Load` of a resource that is one row: the row `fetch` finds, through `mapper`."""
    async def load(session: AsyncSession, ident: str) -> Entry | None:
        row = await fetch(session, ident)
        return Entry(getattr(row, patient), mapper(row), row) if row is not None else None
    return load


PATIENT = SearchParam("patient", "reference", "The patient (Patient/ID or ID).")


@dataclass(frozen=True)
class ResourceSpec:
    """A FHIR resource type served read-only under /fhir/R4."""

    type: str
    audit_resource: Resource
    roles: tuple[Role, ...]
    table: Table
    key_types: tuple[KeyType, ...]
    render: Render
    load: Load
    params: tuple[SearchParam, ...] = ()
    conditions: Callable[[SearchQuery], list[Any]] = no_conditions
    patient_params: tuple[str, ...] = ("patient",)
    # Extra rows a caller may list besides those of the patients they see (or None).
    extra_scope: Callable[[Principal], Any] | None = None
    # Rows a caller may not list even among those (e.g. a clinicians-only visit for the
    # patient's side): a condition every search's rows must also meet (or None).
    narrow: Callable[[Principal], Any] | None = None
    # Custom access check for reads by id (default: authorize_patient on the entry's patient).
    authorize: Authorize | None = None
    profile: str | None = None
    supported_profiles: tuple[str, ...] = ()
    documentation: str = ""
    param_map: Mapping[str, SearchParam] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "param_map", {p.name: p for p in self.params})


def record_spec(
    *,
    type: str,
    audit_resource: Resource,
    table: Table,
    key_types: tuple[KeyType, ...],
    render: Render,
    load: Load,
    params: tuple[SearchParam, ...] = (),
    subject: str = "Same as patient.",
    conditions: Callable[[SearchQuery], list[Any]] = no_conditions,
    profile: str | None = None,
    supported_profiles: tuple[str, ...] = (),
    documentation: str = "",
) -> ResourceSpec:
    """A resource of a patient's record: read by the clinicians and the patient, searched by
    ``patient`` or ``subject`` (`subject` documents it), then `params`."""
    return ResourceSpec(
        type=type, audit_resource=audit_resource, roles=(*CLINICIANS, "patient"), table=table,
        key_types=key_types, render=render, load=load,
        params=(PATIENT, SearchParam("subject", "reference", subject), *params),
        conditions=conditions, patient_params=("patient", "subject"), profile=profile,
        supported_profiles=supported_profiles, documentation=documentation)
