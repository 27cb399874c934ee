"""Questionnaires for the person at home: what the plan asks, answered in a minute.

One page lists the plan's questionnaires with what is due; each questionnaire is one form
of large radio buttons (no script needed). Answers are scored and checked against the plan
by `telemed.services.questionnaires`; an alert it opens goes on the bus for the board.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from telemed import keys
from telemed.bus import ALERTS
from telemed.db.models import QuestionnaireResponse
from telemed.domain.questionnaires import CATALOGUE, Questionnaire
from telemed.errors import ApiError
from telemed.principal import REQUEST_ID, principal, requires
from telemed.services import questionnaires as service
from telemed.services.delegates import may_act
from telemed.views.alert_text import QUESTIONNAIRE_BANDS, QUESTIONNAIRE_FLAGS_WORDS
from telemed.views.forms import FormErrors, read_form
from telemed.views.patient_words import record_query, record_target
from telemed.views.render import flash, language_of, render, see_other, t

routes = web.RouteTableDef()


def questionnaire_view(request: web.Request, q: Questionnaire) -> dict[str, Any]:
    """A questionnaire's texts in the page's language."""
    return {"code": q.code, "title": t(request, q.title), "intro": t(request, q.intro),
            "items": [{"link_id": i.link_id, "text": t(request, i.text),
                       "options": [(o.value, t(request, o.text)) for o in i.options]}
                      for i in q.items]}


def response_row(request: web.Request, row: QuestionnaireResponse) -> dict[str, Any]:
    """A response for the care team: the questionnaire, score, band and flags in words."""
    q = CATALOGUE.get(row.questionnaire)
    band = row.band or ""
    return {"title": t(request, q.title) if q else row.questionnaire,
            "score": row.score, "max_score": q.max_score if q else None,
            "band": t(request, QUESTIONNAIRE_BANDS.get(band, band)) if band else "",
            "flags": [t(request, QUESTIONNAIRE_FLAGS_WORDS.get(f, f)) for f in row.flags],
            "at": row.authored_at}


@routes.get("/my-record/questionnaires", name="questionnaires")
@requires("patient")
async def questionnaire_list(request: web.Request) -> web.Response:
    await language_of(request)
    target = record_target(request)
    who = principal(request)
    async with request.app[keys.SESSIONS]() as session:
        items = await service.planned(session, who, target, request_id=request[REQUEST_ID])
        # a delegate who may only read sees what is asked, with nothing to answer
        can_act = target == who.patient_id or await may_act(session, target, who.user_id)
    return await render(request, "questionnaires.html", {
        "can_act": can_act,
        "planned": [{"code": p.questionnaire.code, "title": t(request, p.questionnaire.title),
                     "due": p.due, "last": p.last.authored_at if p.last else None}
                    for p in items],
        "query": record_query(request, target)})


async def _form(request: web.Request, target: str, q: Questionnaire, chosen: dict[str, str],
                errors: FormErrors, status: int = 200) -> web.Response:
    return await render(request, "questionnaire.html", {
        "q": questionnaire_view(request, q), "chosen": chosen, "errors": errors,
        "query": record_query(request, target)}, status=status)


def _questionnaire(request: web.Request) -> Questionnaire:
    found = CATALOGUE.get(request.match_info["code"])
    if found is None:
        raise ApiError(404, "not_found", "There is no such questionnaire.")
    return found


@routes.get("/my-record/questionnaires/{code}", name="questionnaire")
@requires("patient")
async def questionnaire_form(request: web.Request) -> web.Response:
    await language_of(request)
    target = record_target(request)
    q = _questionnaire(request)
    async with request.app[keys.SESSIONS]() as session:  # may this person answer? (audited)
        await service.authorize_answer(session, principal(request), target,
                                       request_id=request[REQUEST_ID])
        await session.commit()
    return await _form(request, target, q, {}, FormErrors())


@routes.post("/my-record/questionnaires/{code}")
@requires("patient")
async def questionnaire_submit(request: web.Request) -> web.Response:
    await language_of(request)
    target = record_target(request)
    q = _questionnaire(request)
    form = await read_form(request)
    chosen = {i.link_id: form[i.link_id] for i in q.items if i.link_id in form}
    answers: dict[str, object] = {}
    errors = FormErrors()
    for item in q.items:
        raw = chosen.get(item.link_id, "")
        if not raw.isdigit():
            errors.add(item.link_id, t(request, "Please answer this question."))
        else:
            answers[item.link_id] = int(raw)
    if errors:
        return await _form(request, target, q, chosen, errors, status=422)
    async with request.app[keys.SESSIONS]() as session:
        _, changes = await service.submit(session, principal(request), target, q.code,
                                          answers, request_id=request[REQUEST_ID])
    for change in changes:
        await request.app[keys.BUS].publish(ALERTS, change.event())
    await flash(request, "Thank you: your answers reached your care team.")
    raise see_other(f"/my-record{record_query(request, target)}")
