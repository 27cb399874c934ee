"""/api/v1/patients: demographics, scoped to the caller's care teams."""

from __future__ import annotations

from datetime import date

from aiohttp import web
from pydantic import Field, JsonValue

from telemed.api.common import Body, body, call, listing, ok, request_id, sessions
from telemed.api.shapes import patient_out, user_out
from telemed.principal import CARE_READERS, ROLES, STAFF, principal, requires
from telemed.services import patients as service
from telemed.services.access import authorize_patient
from telemed.services.pagination import encode_cursor, parse_page

routes = web.RouteTableDef()


SEX_IN: list[JsonValue] = ["M", "F", "O", "U", "male", "female", "other", "unknown"]
SEX_OUT: list[JsonValue] = ["M", "F", "O", "U"]
SEX_DESCRIPTION = (
    "Sex: M, F, O (other), U (unknown), or FHIR administrative gender (male, female, other, "
    "unknown), any case; stored and returned as M, F, O or U. The fiscal code must match "
    "a male or female sex."
)


class PatientCreate(Body):
    fiscal_code: str
    given_name: str
    family_name: str
    birth_date: date
    sex: str = Field(json_schema_extra={"enum": SEX_IN}, description=SEX_DESCRIPTION)
    phone: str | None = None
    timezone: str = "Europe/Rome"


class PatientUpdate(Body):
    fiscal_code: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    birth_date: date | None = None
    sex: str | None = Field(None, json_schema_extra={"enum": [*SEX_IN, None]},
                            description=SEX_DESCRIPTION)
    phone: str | None = None
    timezone: str | None = None


@routes.get("/api/v1/patients")
@requires(*ROLES)
async def patients_list(request: web.Request) -> web.Response:
    page = parse_page(request.query, key=("str", "str", "str"))
    found = await call(request, service.list_patients, page,
                       request.query.get("q", "")[:100] or None, request_id(request))
    cursor = None
    if len(found) == page.limit:
        last = found[-1]
        cursor = encode_cursor([last.family_name, last.given_name, last.id])
    return listing([patient_out(p) for p in found], cursor)


@routes.post("/api/v1/patients")
@requires(*STAFF)
async def patients_create(request: web.Request) -> web.Response:
    data = await body(request, PatientCreate)
    patient = await call(request, service.create_patient, data.model_dump(), request_id(request))
    return ok(patient_out(patient), status=201)


@routes.get("/api/v1/patients/{patient_id}")
@requires(*ROLES)
async def patients_get(request: web.Request) -> web.Response:
    patient = await call(request, service.get_patient, request.match_info["patient_id"],
                         request_id(request))
    return ok(patient_out(patient))


@routes.patch("/api/v1/patients/{patient_id}")
@requires(*STAFF)
async def patients_update(request: web.Request) -> web.Response:
    data = await body(request, PatientUpdate)
    changes = {k: v for k, v in data.model_dump(exclude_unset=True).items()
               if v is not None or k == "phone"}
    patient = await call(request, service.update_patient, request.match_info["patient_id"],
                         changes, request_id(request))
    return ok(patient_out(patient))


@routes.get("/api/v1/patients/{patient_id}/care-team")
@requires(*CARE_READERS)
async def patients_care_team(request: web.Request) -> web.Response:
    patient_id = request.match_info["patient_id"]
    async with sessions(request)() as session:
        await authorize_patient(session, principal(request), patient_id, action="read",
                                resource="careteam", request_id=request_id(request))
        members = await service.care_team(session, patient_id)
        await session.commit()
    return ok({"items": [user_out(u) for u in members]})
