"""Questionnaires (CONTRACT §7): the catalogue and a patient's responses, scored."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import Field

from telemed import keys
from telemed.api.common import Body, call, listing, ok, read_json, request_id, sessions, validate
from telemed.bus import ALERTS
from telemed.db.models import QuestionnaireResponse
from telemed.domain.questionnaires import CATALOGUE, Questionnaire
from telemed.errors import ApiError
from telemed.principal import CARE_READERS, ROLES, principal, requires
from telemed.services import questionnaires as service

routes = web.RouteTableDef()


def questionnaire_out(q: Questionnaire) -> dict[str, Any]:
    """A catalogue entry in the shape of a FHIR ``Questionnaire`` (English texts)."""
    return {
        "resourceType": "Questionnaire", "id": q.code, "name": q.code, "title": q.title,
        "status": "active", "description": q.intro, "max_score": q.max_score,
        "bands": list(q.bands),
        "item": [{"linkId": i.link_id, "text": i.text, "type": "choice", "required": True,
                  "answerOption": [{"valueCoding": {"code": str(o.value), "display": o.text}}
                                   for o in i.options]} for i in q.items],
    }


def response_out(row: QuestionnaireResponse) -> dict[str, Any]:
    return {"id": row.id, "patient_id": row.patient_id, "questionnaire": row.questionnaire,
            "answers": [{"link_id": k, "value": v} for k, v in row.answers.items()],
            "score": row.score, "band": row.band, "flags": row.flags,
            "entered_by": row.entered_by, "authored_at": row.authored_at.isoformat()}


class Answer(Body):
    link_id: Annotated[str, Field(min_length=1, max_length=64)]
    value: int


class ResponseIn(Body):
    questionnaire: Annotated[str, Field(min_length=1, max_length=32)]
    answers: Annotated[list[Answer], Field(max_length=50)]


@routes.get("/api/v1/questionnaires")
@requires(*ROLES)
async def catalogue(request: web.Request) -> web.Response:
    return ok({"items": [questionnaire_out(q) for q in CATALOGUE.values()]})


@routes.post("/api/v1/patients/{patient_id}/questionnaire-responses")
@requires(*CARE_READERS)
async def respond(request: web.Request) -> web.Response:
    raw = await read_json(request)
    async with sessions(request)() as session:
        # access first: a refusal never depends on what the body says
        patient = await service.authorize_answer(session, principal(request),
                                                 request.match_info["patient_id"],
                                                 request_id=request_id(request))
        data = validate(ResponseIn, raw)
        answers: dict[str, object] = {}
        for answer in data.answers:
            if answer.link_id in answers:
                raise ApiError(422, "validation_error", "An item is answered more than once.",
                               fields={f"answers.{answer.link_id}": "Answered more than once."})
            answers[answer.link_id] = answer.value
        row, changes = await service.record(session, principal(request), patient,
                                            data.questionnaire, answers)
    for change in changes:
        await request.app[keys.BUS].publish(ALERTS, change.event())
    return ok(response_out(row), status=201)


@routes.get("/api/v1/patients/{patient_id}/questionnaire-responses")
@requires(*CARE_READERS)
async def responses(request: web.Request) -> web.Response:
    rows = await call(request, service.responses, request.match_info["patient_id"],
                      request_id=request_id(request))
    return listing([response_out(r) for r in rows], None)
