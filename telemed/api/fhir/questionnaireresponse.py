"""QuestionnaireResponse: a patient's answers to a questionnaire of the catalogue, scored.

The answers are ``valueCoding`` of the item's option (the value as code, the English text
as display); the total score is a ``valueInteger`` item ``score`` and the band a
``valueString`` item ``band`` at the end, flags as ``valueString`` items ``flag``. The
``questionnaire`` is the canonical URL of the catalogue entry (served as JSON at
``/api/v1/questionnaires``); ``author`` is who typed the answers in.
"""

from __future__ import annotations

from typing import Any

from telemed.api.fhir.common import instant, reference
from telemed.api.fhir.spec import Table, loaded, record_spec, rendered
from telemed.db.models import QuestionnaireResponse
from telemed.domain.questionnaires import CATALOGUE
from telemed.services import questionnaires as questionnaire_service

QUESTIONNAIRE_BASE = "urn:telemed:questionnaire:"
ANSWER_SYSTEM = "urn:telemed:questionnaire-answer"


def response_resource(row: QuestionnaireResponse) -> dict[str, Any]:
    """A FHIR R4 QuestionnaireResponse from a stored response."""
    q = CATALOGUE.get(row.questionnaire)
    items: list[dict[str, Any]] = []
    for link_id, value in row.answers.items():
        item = q.item(link_id) if q is not None else None
        option = next((o for o in item.options if o.value == value), None) if item else None
        coding: dict[str, Any] = {"system": ANSWER_SYSTEM, "code": str(value)}
        if option is not None:
            coding["display"] = option.text
        entry: dict[str, Any] = {"linkId": link_id, "answer": [{"valueCoding": coding}]}
        if item is not None:
            entry["text"] = item.text
        items.append(entry)
    items.append({"linkId": "score", "text": "Total score",
                  "answer": [{"valueInteger": row.score}]})
    if row.band:
        items.append({"linkId": "band", "text": "Band", "answer": [{"valueString": row.band}]})
    for flag in row.flags:
        items.append({"linkId": "flag", "text": "Flag", "answer": [{"valueString": flag}]})
    return {
        "resourceType": "QuestionnaireResponse",
        "id": row.id,
        "meta": {"lastUpdated": instant(row.authored_at)},
        "questionnaire": QUESTIONNAIRE_BASE + row.questionnaire,
        "status": "completed",
        "subject": reference("Patient", row.patient_id),
        "authored": instant(row.authored_at),
        "author": {"identifier": {"system": "urn:telemed:user", "value": row.entered_by}},
        "item": items,
    }


SPEC = record_spec(
    type="QuestionnaireResponse",
    audit_resource="fhir_questionnaire_response",
    table=Table(QuestionnaireResponse, QuestionnaireResponse.patient_id,
                (QuestionnaireResponse.authored_at, QuestionnaireResponse.id)),
    key_types=("datetime", "str"),
    render=rendered(response_resource),
    load=loaded(questionnaire_service.by_id, response_resource),
    documentation="Answers to the platform's questionnaires with their score, newest first.",
)
