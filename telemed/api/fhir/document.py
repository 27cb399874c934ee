"""DocumentReference (search, read) and Bundle (read): the signed clinical documents.

Only signed (or replaced) documents exist here: drafts stay inside the platform. A
DocumentReference points at the sealed FHIR document (``Bundle/{id}``, the Bundle exactly as
signed, with its JWS) and at the PAdES PDF. ``type=`` takes the LOINC code of the kind
(``http://loinc.org|75496-0``), ``date=`` the signing time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from telemed.api.fhir.common import LOINC
from telemed.api.fhir.search import SearchParam, SearchQuery, date_bounds, parse_token
from telemed.api.fhir.spec import PATIENT, ResourceSpec, loaded, record_spec, rendered
from telemed.db.models import Document
from telemed.documents.fhir import document_reference
from telemed.domain.documents import KINDS, kind_of
from telemed.principal import CLINICIANS
from telemed.services import documents
from telemed.services.fhir_rows import Table, date_conditions


def _reference(doc: Document) -> dict[str, Any]:
    assert doc.signed_at is not None
    return document_reference(doc_id=doc.id, spec=kind_of(doc.kind), title=doc.title,
                              patient_id=doc.patient_id, status=doc.status,
                              signed_at=doc.signed_at, author_id=doc.signed_by or doc.author_id,
                              base="/fhir/R4")


def _kinds_for(values: Sequence[str]) -> list[str]:
    tokens = [parse_token(v) for v in values]
    return [key for key, spec in KINDS.items()
            if any(t.matches(LOINC, spec.loinc) for t in tokens)]


def _conditions(query: SearchQuery) -> list[Any]:
    conditions: list[Any] = [documents.of_kinds(_kinds_for(alts))
                             for alts in query.all_of("type")]
    conditions += date_conditions(documents.SIGNED_AT, date_bounds(query))
    return conditions


def _bundle(doc: Document) -> dict[str, Any]:
    return dict(json.loads(doc.bundle or "{}"))


TABLE = Table(Document, documents.PATIENT_COLUMN, documents.NEWEST_FIRST,
              base=documents.PUBLISHED)

SPEC = record_spec(
    type="DocumentReference",
    audit_resource="document",
    table=TABLE,
    key_types=("datetime", "str"),
    render=rendered(_reference),
    load=loaded(documents.published, _reference),
    params=(
        SearchParam("type", "token", "The LOINC document type (e.g. http://loinc.org|75496-0)."),
        SearchParam("date", "date", "When the document was signed."),
    ),
    conditions=_conditions,
    documentation="Signed clinical documents, newest first; each points at its sealed FHIR "
                  "document (Bundle) and its PAdES PDF.",
)

BUNDLE_SPEC = ResourceSpec(
    type="Bundle",
    audit_resource="document",
    roles=(*CLINICIANS, "patient"),
    table=TABLE,
    key_types=("datetime", "str"),
    render=rendered(_bundle),
    load=loaded(documents.published, _bundle),
    params=(PATIENT,),
    documentation="The signed FHIR documents (type document, with their JWS signature).",
)
