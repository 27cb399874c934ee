"""Routes of /fhir/R4: metadata, and read + search of every resource spec.

Access follows the JSON API: `patient=` names a record the caller asks to open, so it goes
through `authorize_patient` (audited; 403 without care team and consent, or emergency access);
a search without it lists only the patients the caller may see, and every patient that
appears in a page is recorded in that patient's access log.
"""

from __future__ import annotations

import re

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed import __version__
from telemed.api.common import request_id, sessions
from telemed.api.fhir import (
    appointment,
    auditevent,
    careplan,
    document,
    flag,
    observation,
    patient,
    questionnaireresponse,
    scheduling,
)
from telemed.api.fhir.bundle import search_url, searchset
from telemed.api.fhir.capability import capability_statement
from telemed.api.fhir.common import BASE_PATH, ID_PATTERN, base_url, fhir_response
from telemed.api.fhir.search import (
    SearchQuery,
    decode_cursor,
    encode_cursor,
    parse_search,
    prefers_strict,
    reference_ids,
)
from telemed.api.fhir.spec import Entry, ResourceSpec
from telemed.db.types import utcnow
from telemed.domain.audit_reasons import because
from telemed.errors import ApiError, not_found
from telemed.principal import Handler, Principal, principal, public, requires
from telemed.services import audit, scope
from telemed.services.access import authorize_patient
from telemed.services.fhir_rows import find

SPECS: tuple[ResourceSpec, ...] = (
    patient.SPEC,
    observation.SPEC,
    careplan.SPEC,
    appointment.SPEC,
    flag.SPEC,
    auditevent.SPEC,
    document.SPEC,
    document.BUNDLE_SPEC,
    questionnaireresponse.SPEC,
)
_ID = re.compile(rf"^{ID_PATTERN}$")

routes = web.RouteTableDef()


@routes.get(f"{BASE_PATH}/metadata")
@public
async def metadata(request: web.Request) -> web.Response:
    """The CapabilityStatement (open to anonymous clients, as FHIR expects)."""
    return fhir_response(capability_statement(SPECS, base=base_url(request),
                                              version=__version__, date=utcnow(),
                                              extra=scheduling.CAPABILITIES))


async def _authorized_entry(
    session: AsyncSession, who: Principal, spec: ResourceSpec, ident: str, rid: str
) -> Entry:
    entry = await spec.load(session, ident) if _ID.match(ident) else None
    if entry is None:
        raise not_found(f"{spec.type}/{ident}")
    if spec.authorize is not None:
        await spec.authorize(session, who, entry, rid)
    else:
        await authorize_patient(session, who, entry.patient_id, action="read",
                                resource=spec.audit_resource, resource_id=ident,
                                request_id=rid)
    return entry


def _read_handler(spec: ResourceSpec) -> Handler:
    @requires(*spec.roles)
    async def read(request: web.Request) -> web.Response:
        async with sessions(request)() as session:
            entry = await _authorized_entry(session, principal(request), spec,
                                            request.match_info["id"], request_id(request))
            await session.commit()
        return fhir_response(entry.resource)

    read.__name__ = read.__qualname__ = f"fhir_read_{spec.type.lower()}"
    return read


async def _explicit_scope(
    session: AsyncSession, who: Principal, spec: ResourceSpec, ids: list[str], rid: str
) -> object:
    """Rows of the named patients, each one authorized (an unknown patient matches nothing)."""
    allowed = []
    for patient_id in ids:
        try:
            await authorize_patient(session, who, patient_id, action="read",
                                    resource=spec.audit_resource, request_id=rid)
        except ApiError as exc:
            if exc.status != 404:
                raise
            continue
        allowed.append(patient_id)
    return spec.table.patient.in_(allowed)


def _visible_scope(who: Principal, spec: ResourceSpec) -> object:
    """Rows of the patients the caller may list (None: all, for administrators), as a
    condition of the search's one query (`services.scope`), not a list of ids."""
    visible = scope.visible(spec.table.patient, who)
    if visible is None:
        return None
    extra = spec.extra_scope(who) if spec.extra_scope is not None else None
    return visible if extra is None else visible | extra


def _parse(request: web.Request, spec: ResourceSpec) -> tuple[SearchQuery, list[object]]:
    query = parse_search(request.query.items(), spec.param_map,
                         strict=prefers_strict(request.headers.get("Prefer")))
    return query, spec.conditions(query)


def _search_handler(spec: ResourceSpec) -> Handler:
    @requires(*spec.roles)
    async def search(request: web.Request) -> web.Response:
        who, rid = principal(request), request_id(request)
        query, conditions = _parse(request, spec)  # every 400 before the database
        after = decode_cursor(query.cursor, spec.type, spec.key_types) if query.cursor else None
        named = reference_ids(query, spec.patient_params) if spec.patient_params else None
        async with sessions(request)() as session:
            if named is not None:
                rows = await _explicit_scope(session, who, spec, named, rid)
            else:
                rows = _visible_scope(who, spec)
            if spec.narrow is not None:
                rows = spec.narrow(who) if rows is None else spec.narrow(who) & rows
            # a clinician's patients: a broad scope, tested on windows of the order
            page = await find(session, spec.table, conditions, rows, after, query.count,
                              query.total, windowed=named is None and who.is_clinician)
            entries = await spec.render(session, page.rows)
            if named is None:
                await audit.record_reads(session, actor=who, resource=spec.audit_resource,
                                         reads=[(e.patient_id, None) for e in entries],
                                         reason=because("search"), request_id=rid)
            await session.commit()
        base = base_url(request)
        next_url = None
        if page.more:
            cursor = encode_cursor(spec.type, spec.table.key(page.rows[-1]))
            next_url = search_url(base, spec.type, query.used, query.count, cursor)
        return fhir_response(searchset(
            base, [e.resource for e in entries], total=page.total,
            self_url=search_url(base, spec.type, query.used, query.count, query.cursor),
            next_url=next_url,
        ))

    search.__name__ = search.__qualname__ = f"fhir_search_{spec.type.lower()}"
    return search


for _spec in SPECS:
    routes.get(f"{BASE_PATH}/{_spec.type}")(_search_handler(_spec))
    routes.get(f"{BASE_PATH}/{_spec.type}/{{id}}")(_read_handler(_spec))
