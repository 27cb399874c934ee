"""Enter a reading by hand (CONTRACT §7): one small form per measurement, no script needed.

Each form posts one measurement in the unit the person uses (kg or lb, mg/dL or mmol/L,
°C or °F); the page remembers the units chosen. The reading goes through the devices'
pipeline (`telemed.services.manual_readings`), so it is validated, stored and checked by
the care plan's rules exactly like a device's.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from aiohttp_session import get_session

from telemed import keys
from telemed.db.types import utcnow
from telemed.domain.senml import Rejection
from telemed.principal import REQUEST_ID, principal, requires
from telemed.services import manual_readings as manual
from telemed.views.forms import Form, FormErrors, read_form
from telemed.views.patient_words import record_query, record_target
from telemed.views.render import N_, flash, language_of, render, see_other, t, t_error

routes = web.RouteTableDef()

UNITS_KEY = "reading_units"


@dataclass(frozen=True, slots=True)
class Field:
    """One number of a form: the metric it is and its label."""

    metric: str
    label: str


@dataclass(frozen=True, slots=True)
class ReadingForm:
    """A measurement's form: its fields and the units a person may type it in."""

    key: str
    title: str
    fields: tuple[Field, ...]
    units: tuple[tuple[str, str], ...]  # (UCUM code, label)
    example: str


FORMS: dict[str, ReadingForm] = {f.key: f for f in (
    ReadingForm("body_weight", N_("Weight"), (Field("body_weight", N_("Weight")),),
                (("kg", "kg"), ("[lb_av]", "lb")), "72.5"),
    ReadingForm("bp", N_("Blood pressure"),
                (Field("bp_systolic", N_("Systolic (the higher number)")),
                 Field("bp_diastolic", N_("Diastolic (the lower number)")),
                 Field("heart_rate", N_("Pulse (if shown)"))),
                (("mm[Hg]", "mmHg"),), "130"),
    ReadingForm("heart_rate", N_("Pulse"), (Field("heart_rate", N_("Pulse")),),
                (("/min", N_("beats per minute")),), "72"),
    ReadingForm("spo2", N_("Oxygen saturation"), (Field("spo2", N_("Oxygen saturation")),),
                (("%", "%"),), "96"),
    ReadingForm("resp_rate", N_("Breathing rate"), (Field("resp_rate", N_("Breathing rate")),),
                (("/min", N_("breaths per minute")),), "16"),
    ReadingForm("body_temp", N_("Temperature"), (Field("body_temp", N_("Temperature")),),
                (("Cel", "°C"), ("[degF]", "°F")), "36.6"),
    ReadingForm("blood_glucose", N_("Blood sugar"), (Field("blood_glucose", N_("Blood sugar")),),
                (("mg/dL", "mg/dL"), ("mmol/L", "mmol/L")), "110"),
)}
OPTIONAL = frozenset({("bp", "heart_rate")})
_FORM_OF = {"bp_systolic": "bp", "bp_diastolic": "bp"}

# Rejections of the decoder, said to a person (the rest fall back to their own message).
PLAIN_REJECTIONS = {
    "implausible": N_("This value cannot be right. Check the number and the unit, and type "
                      "it again."),
    "not_finite": N_("Type a number, for example {example}."),
}


def forms_for(metrics: list[str]) -> list[ReadingForm]:
    """The forms of the plan's measurements (every form when the plan lists none)."""
    keys_ = list(dict.fromkeys(_FORM_OF.get(m, m) for m in metrics if _FORM_OF.get(m, m)
                               in FORMS))
    return [FORMS[k] for k in keys_] if keys_ else list(FORMS.values())


def _number(text: str) -> float | None:
    cleaned = text.strip().replace(" ", "").replace(",", ".")
    if not cleaned:
        return None
    try:
        return float(cleaned)
    except ValueError:
        return None


def _field_id(form: ReadingForm, metric: str) -> str:
    return f"{form.key}-{metric}"


async def _page(request: web.Request, target: str, form: Form, errors: FormErrors,
                status: int = 200) -> web.Response:
    who = principal(request)
    async with request.app[keys.SESSIONS]() as session:
        metrics = await manual.form_metrics(session, who, target,
                                            request_id=request[REQUEST_ID])
    chosen = (await get_session(request)).get(UNITS_KEY) or {}
    shown = []
    for item in forms_for(metrics):
        units = [(code, t(request, label)) for code, label in item.units]
        shown.append({
            "key": item.key, "title": t(request, item.title),
            "fields": [{"id": _field_id(item, f.metric), "label": t(request, f.label),
                        "optional": (item.key, f.metric) in OPTIONAL} for f in item.fields],
            "units": units, "unit": form.get(f"{item.key}-unit") or chosen.get(item.key)
            or units[0][0],
            "example": item.example,
        })
    return await render(request, "readings.html", {
        "forms": shown, "form": form, "errors": errors,
        "query": record_query(request, target)}, status=status)


@routes.get("/my-record/readings", name="readings")
@requires("patient")
async def readings_page(request: web.Request) -> web.Response:
    await language_of(request)
    return await _page(request, record_target(request), {}, FormErrors())


def _rejection_text(request: web.Request, rejection: Rejection, example: str) -> str:
    plain = PLAIN_REJECTIONS.get(rejection.code)
    if plain is not None:
        return t(request, plain, example=example)
    return t_error(request, rejection.render())


def _entries(request: web.Request, item: ReadingForm, form: Form,
             errors: FormErrors) -> list[manual.Entry]:
    unit = form.get(f"{item.key}-unit", "")
    if unit not in {code for code, _ in item.units}:
        errors.add(f"{item.key}-unit", t(request, "Choose a unit from the list."))
        return []
    entries = []
    for f in item.fields:
        field_id = _field_id(item, f.metric)
        raw = form.get(field_id, "")
        if not raw.strip() and (item.key, f.metric) in OPTIONAL:
            continue
        value = _number(raw)
        if value is None:
            errors.add(field_id, t(request, "Type a number, for example {example}.",
                                   example=item.example))
            continue
        entries.append(manual.Entry(f.metric, value, "/min" if f.metric == "heart_rate"
                                    else unit))
    return entries


@routes.post("/my-record/readings")
@requires("patient")
async def readings_submit(request: web.Request) -> web.Response:
    await language_of(request)
    who = principal(request)
    target = record_target(request)
    form = await read_form(request)
    item = FORMS.get(form.get("form", ""))
    if item is None:
        raise web.HTTPBadRequest(text="Unknown form.")
    errors = FormErrors()
    entries = _entries(request, item, form, errors)
    if errors:
        return await _page(request, target, form, errors, status=422)
    result = await manual.enter(request.app[keys.SESSIONS], request.app[manual.READING_SINK],
                                who, target, manual.pack_of(entries, utcnow()),
                                request_id=request[REQUEST_ID])
    if result.rejections:
        for rejection in result.rejections:
            index = rejection.record_index
            metric = entries[index].metric if index is not None and index < len(entries) \
                else None
            errors.add(_field_id(item, metric) if metric else None,
                       _rejection_text(request, rejection, item.example))
        return await _page(request, target, form, errors, status=422)
    browser = await get_session(request)  # the cookie session: remember the unit chosen
    browser[UNITS_KEY] = {**(browser.get(UNITS_KEY) or {}), item.key: form[f"{item.key}-unit"]}
    await flash(request, "Saved: {what}. Thank you.", what=t(request, item.title))
    raise see_other(f"/my-record{record_query(request, target)}#today")
